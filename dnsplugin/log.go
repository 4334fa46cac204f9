package dnsplugin

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

var log = clog.NewWithPlugin(pluginName)

// slogger passes the matcher's structured log to CoreDNS's log.
var slogger = slog.New(clogHandler{})

type clogHandler struct{ attrs []slog.Attr }

func (clogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h clogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	switch {
	case r.Level >= slog.LevelError:
		log.Error(b.String())
	case r.Level >= slog.LevelWarn:
		log.Warning(b.String())
	case r.Level >= slog.LevelInfo:
		log.Info(b.String())
	default:
		log.Debug(b.String())
	}
	return nil
}

func (h clogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return clogHandler{attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h clogHandler) WithGroup(string) slog.Handler { return h }

func hostname() string {
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "coredns"
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return t, nil
}
