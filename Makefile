# campusguard — see README.md. `make run` sets up and starts the demo,
# `make test` installs what the tests need and runs them all.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/campusguard
FUZZTIME ?= 10s

.PHONY: all deps build run test vet unit race fuzz bench clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/campusguard

# The demo: check the shipped example packs, then match the sample posts.
# Later issues turn this into `campusguard serve` with capture, DNS and the console.
run: build
	$(BIN) rules check builtin
	$(BIN) match --rules builtin --format table < deploy/demo/posts.txt

test: deps vet unit race

vet:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting" && exit 1)
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 20m ./...

# The swap-on-reload and pooled-scratch paths under the race detector.
race:
	$(GO) test -race -count=1 -run 'Concurrent|Reload|MatchText|MatchDomain' ./matcher/

# Short runs of every fuzz target (the committed corpora run in `unit` too).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./matcher/

clean:
	rm -rf bin
