package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// The console's languages. Every user-visible string is a key in both
// catalogs (i18n/*.json); a test keeps their key sets equal and renders
// every page in each language to catch a key that falls back.
const (
	langEN = "en"
	langZH = "zh-CN"
)

var languages = []string{langEN, langZH}

//go:embed i18n/*.json
var catalogFS embed.FS

// catalogs maps a language to its key → text map.
var catalogs = mustLoadCatalogs()

func mustLoadCatalogs() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, l := range languages {
		b, err := catalogFS.ReadFile("i18n/" + l + ".json")
		if err != nil {
			panic(fmt.Sprintf("web: catalog %s: %v", l, err))
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			panic(fmt.Sprintf("web: catalog i18n/%s.json: %v", l, err))
		}
		out[l] = m
	}
	return out
}

// supportedLang returns the console language for a stored or submitted
// value, or "" when it is not one of ours.
func supportedLang(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "en":
		return langEN
	case "zh-cn", "zh":
		return langZH
	}
	return ""
}

// tr translates for one language. A key missing from the language falls
// back to English and then to the key itself, and is reported to miss
// (tests set it to catch untranslated keys).
type tr struct {
	lang string
	miss func(lang, key string)
}

// Lang is the language's tag, for <html lang>.
func (t tr) Lang() string { return t.lang }

// T translates key; with args, the text is a fmt format.
func (t tr) T(key string, args ...any) string {
	s, ok := catalogs[t.lang][key]
	if !ok {
		if t.miss != nil {
			t.miss(t.lang, key)
		}
		if s, ok = catalogs[langEN][key]; !ok {
			s = key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// V translates an enumerated value (a state, a category, a severity) as
// key prefix.value; values the catalog does not know (an operator's own
// category, say) are shown as they are. That is data, not a missing
// translation.
func (t tr) V(prefix, value string) string {
	if s, ok := catalogs[t.lang][prefix+"."+value]; ok {
		return s
	}
	if t.lang != langEN {
		if _, ok := catalogs[langEN][prefix+"."+value]; ok && t.miss != nil {
			t.miss(t.lang, prefix+"."+value)
		}
	}
	return value
}

// langQ is one entry of an Accept-Language header.
type langQ struct {
	Tag string  // lower case, as sent
	Q   float64 // 0–1
}

// Accept-Language bounds: headers are attacker-supplied.
const (
	maxAcceptLanguageBytes = 1024
	maxAcceptLanguageItems = 32
)

// parseAcceptLanguage reads an Accept-Language header (RFC 9110 12.5.4)
// into its entries, best first (stable for equal weights). Malformed
// entries are skipped; q=0 entries are dropped; over-long headers are
// cut. It never fails.
func parseAcceptLanguage(h string) []langQ {
	if len(h) > maxAcceptLanguageBytes {
		h = h[:maxAcceptLanguageBytes]
	}
	var out []langQ
	for _, part := range strings.Split(h, ",") {
		if len(out) == maxAcceptLanguageItems {
			break
		}
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		if !validLangTag(tag) {
			continue
		}
		q := 1.0
		ok := true
		for _, p := range strings.Split(params, ";") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			k, v, _ := strings.Cut(p, "=")
			if strings.TrimSpace(strings.ToLower(k)) != "q" {
				continue
			}
			f, err := parseQValue(strings.TrimSpace(v))
			if err != nil {
				ok = false
				break
			}
			q = f
		}
		if !ok || q == 0 {
			continue
		}
		out = append(out, langQ{Tag: tag, Q: q})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Q > out[j].Q })
	return out
}

// validLangTag accepts "*" and tags of 1–8 letter or digit subtags joined
// by '-' (the language-range syntax of RFC 4647), at most 64 bytes.
func validLangTag(tag string) bool {
	if tag == "*" {
		return true
	}
	if tag == "" || len(tag) > 64 {
		return false
	}
	for i, sub := range strings.Split(tag, "-") {
		if sub == "" || len(sub) > 8 {
			return false
		}
		for _, c := range []byte(sub) {
			isAlpha := c >= 'a' && c <= 'z'
			if !isAlpha && !(i > 0 && c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

// parseQValue accepts the qvalue grammar: 0, 0.d{0,3}, 1, 1.0{0,3}.
func parseQValue(s string) (float64, error) {
	bad := fmt.Errorf("bad qvalue %q", s)
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, bad
	}
	if len(s) > 1 {
		if s[1] != '.' {
			return 0, bad
		}
		for _, c := range []byte(s[2:]) {
			if c < '0' || c > '9' || (s[0] == '1' && c != '0') {
				return 0, bad
			}
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1 {
		return 0, bad
	}
	return f, nil
}

// langFromAcceptLanguage picks the console language for a browser: the
// first entry that is English or any Chinese (Simplified is the only
// Chinese catalog, so zh-TW readers get it rather than English), else
// English.
func langFromAcceptLanguage(h string) string {
	for _, l := range parseAcceptLanguage(h) {
		primary, _, _ := strings.Cut(l.Tag, "-")
		switch primary {
		case "zh":
			return langZH
		case "en":
			return langEN
		}
	}
	return langEN
}

// missRecorder collects keys that fell back, for tests.
type missRecorder struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (m *missRecorder) record(lang, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = map[string]bool{}
	}
	m.keys[lang+": "+key] = true
}

func (m *missRecorder) list() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
