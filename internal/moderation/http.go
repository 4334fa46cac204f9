package moderation

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// IngestHandler serves POST /api/v1/posts. auth returns the actor
// ("token:NAME") or an error (→ 401 JSON error); a nil auth refuses every
// request.
//
// The body is one JSON object, or NDJSON (one post a line; always so with
// Content-Type application/x-ndjson). Content-Type may be
// application/json, application/x-ndjson or absent. Answers:
//
//	200  one Result for a single object; {"results":[...]} for NDJSON, or
//	     NDJSON results, one a line, with Accept: application/x-ndjson
//	400  bad JSON, a wrong type, an unknown field, a missing id or forum,
//	     a field over its limit, too many posts — the whole request is
//	     refused, nothing is recorded
//	401  no or bad token        405  not POST
//	413  request over Limits.MaxRequestBytes, or a post over any valid size
//	415  another content type   503  no rule set loaded
//
// Every error is JSON {"error": "...", "line": N, "field": "body"} (line 0
// and field "" when they do not apply).
func (s *Service) IngestHandler(auth func(*http.Request) (string, error)) http.Handler {
	return &ingestHandler{s: s, auth: auth}
}

type ingestHandler struct {
	s    *Service
	auth func(*http.Request) (string, error)
}

// apiError is the JSON error body.
type apiError struct {
	Error string `json:"error"`
	Line  int    `json:"line"`
	Field string `json:"field"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *ingestHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: fmt.Sprintf("method %s not allowed: use POST", r.Method)})
		return
	}
	if h.auth == nil {
		writeJSON(w, http.StatusUnauthorized, apiError{Error: "no authentication configured for post ingest"})
		return
	}
	actor, err := h.auth(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="campusguard"`)
		writeJSON(w, http.StatusUnauthorized, apiError{Error: err.Error()})
		return
	}
	ndjson := false
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			writeJSON(w, http.StatusUnsupportedMediaType, apiError{Error: fmt.Sprintf("content type %q: %v", truncate(ct, 128), err)})
			return
		case mt == "application/json":
		case mt == "application/x-ndjson" || mt == "application/ndjson":
			ndjson = true
		default:
			writeJSON(w, http.StatusUnsupportedMediaType, apiError{Error: fmt.Sprintf("content type %q: want application/json or application/x-ndjson", truncate(mt, 128))})
			return
		}
	}
	s := h.s
	body := http.MaxBytesReader(w, r.Body, s.limits.MaxRequestBytes)
	posts, batch, err := decodePosts(body, s.limits, ndjson)
	if err != nil {
		var fe *FieldError
		switch {
		case IsTooLarge(err):
			e := apiError{Error: fmt.Sprintf("request too large (more than %d bytes)", s.limits.MaxRequestBytes)}
			if errors.As(err, &fe) {
				e = apiError{Error: fe.Error(), Line: fe.Line, Field: fe.Field}
			}
			writeJSON(w, http.StatusRequestEntityTooLarge, e)
		case errors.As(err, &fe):
			writeJSON(w, http.StatusBadRequest, apiError{Error: fe.Error(), Line: fe.Line, Field: fe.Field})
		default:
			writeJSON(w, http.StatusBadRequest, apiError{Error: "reading the request: " + err.Error()})
		}
		return
	}
	results, err := s.Ingest(r.Context(), posts, actor)
	if err != nil {
		switch {
		case errors.Is(err, ErrNoRules):
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "request ended before its posts were recorded; send it again"})
		default:
			s.log.Error("post ingest", "actor", actor, "posts", len(posts), "err", err)
			writeJSON(w, http.StatusInternalServerError, apiError{Error: "the posts could not be recorded; send them again"})
		}
		return
	}
	switch {
	case !batch:
		writeJSON(w, http.StatusOK, results[0])
	case acceptsNDJSON(r):
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		for i := range results {
			_ = enc.Encode(&results[i])
		}
	default:
		writeJSON(w, http.StatusOK, struct {
			Results []Result `json:"results"`
		}{results})
	}
}

func acceptsNDJSON(r *http.Request) bool {
	for _, a := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(a)); err == nil && (mt == "application/x-ndjson" || mt == "application/ndjson") {
			return true
		}
	}
	return false
}

// CacheAuth wraps an auth function that looks only at the Authorization
// header (a bearer token checked against the state database, say) so that
// a header it accepted is accepted again for ttl without asking it: a
// token lookup per request costs about as much as the rest of a small
// post's ingest. Refusals are not cached. A revoked token keeps working
// for at most ttl. The cache holds SHA-256 digests of headers, at most
// 1024 of them.
func CacheAuth(auth func(*http.Request) (string, error), ttl time.Duration) func(*http.Request) (string, error) {
	type entry struct {
		actor string
		until time.Time
	}
	var mu sync.Mutex
	cache := map[[sha256.Size]byte]entry{}
	return func(r *http.Request) (string, error) {
		h := r.Header.Get("Authorization")
		if h == "" {
			return auth(r)
		}
		key := sha256.Sum256([]byte(h))
		now := time.Now()
		mu.Lock()
		e, ok := cache[key]
		mu.Unlock()
		if ok && now.Before(e.until) {
			return e.actor, nil
		}
		actor, err := auth(r)
		if err != nil {
			return "", err
		}
		mu.Lock()
		if len(cache) >= 1024 {
			clear(cache)
		}
		cache[key] = entry{actor, now.Add(ttl)}
		mu.Unlock()
		return actor, nil
	}
}
