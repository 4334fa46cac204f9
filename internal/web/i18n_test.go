package web

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"golang.org/x/net/html"

	"github.com/campusguard/campusguard/internal/state"
)

func TestCatalogsHaveTheSameKeys(t *testing.T) {
	en, zh := catalogs[langEN], catalogs[langZH]
	if len(en) < 100 {
		t.Fatalf("English catalog has %d keys", len(en))
	}
	for k := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("zh-CN lacks %q", k)
		}
	}
	for k := range zh {
		if _, ok := en[k]; !ok {
			t.Errorf("en lacks %q", k)
		}
	}
	verbs := regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)
	han := 0
	for k, e := range en {
		z := zh[k]
		if strings.TrimSpace(e) == "" || strings.TrimSpace(z) == "" {
			t.Errorf("%q is empty in a catalog", k)
		}
		if ve, vz := verbs.FindAllString(e, -1), verbs.FindAllString(z, -1); fmt.Sprint(ve) != fmt.Sprint(vz) {
			t.Errorf("%q: format verbs differ: en %v, zh-CN %v", k, ve, vz)
		}
		if strings.IndexFunc(z, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0 {
			han++
		}
	}
	// Nearly every string is Chinese; the few that are not are names
	// (English, DNS, TLS…) that read the same in both.
	if han < len(zh)*9/10 {
		t.Errorf("only %d of %d zh-CN strings contain Chinese", han, len(zh))
	}
}

// Templates must not hold user-visible text of their own: every word comes
// from the catalog. Text between tags and the attributes people read
// (aria-label, title, placeholder, alt) may hold only template actions,
// punctuation, digits and symbols.
func TestTemplatesHaveNoLiteralText(t *testing.T) {
	action := regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil || len(files) < 10 {
		t.Fatalf("templates: %v %v", files, err)
	}
	for _, name := range files {
		b, _ := templateFS.ReadFile(name)
		src := action.ReplaceAllString(string(b), "\x01")
		z := html.NewTokenizer(strings.NewReader(src))
		var stack []string
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				break
			}
			tok := z.Token()
			switch tt {
			case html.StartTagToken, html.SelfClosingTagToken:
				for _, a := range tok.Attr {
					switch a.Key {
					case "aria-label", "title", "placeholder", "alt", "label":
						if hasWords(a.Val) {
							t.Errorf("%s: <%s %s=%q> is not translated", name, tok.Data, a.Key, a.Val)
						}
					}
				}
				if tt == html.StartTagToken && !voidElement(tok.Data) {
					stack = append(stack, tok.Data)
				}
			case html.EndTagToken:
				for i := len(stack) - 1; i >= 0; i-- {
					if stack[i] == tok.Data {
						stack = stack[:i]
						break
					}
				}
			case html.TextToken:
				in := ""
				if len(stack) > 0 {
					in = stack[len(stack)-1]
				}
				if in == "kbd" || in == "script" || in == "style" || in == "title" && strings.Contains(tok.Data, "\x01") {
					continue // key names; code; the SVG/page title is an action
				}
				if hasWords(tok.Data) {
					t.Errorf("%s: literal text %q inside <%s>", name, strings.TrimSpace(tok.Data), in)
				}
			}
		}
	}
}

func hasWords(s string) bool {
	return strings.IndexFunc(s, unicode.IsLetter) >= 0
}

func voidElement(tag string) bool {
	switch tag {
	case "input", "br", "meta", "link", "img", "hr", "path", "rect", "line":
		return true
	}
	return false
}

// Every page, in every state this test can put it in, rendered in
// Chinese, with no key falling back to English.
func TestEveryPageInChinese(t *testing.T) {
	f := newFixture(t, withEngine(t))
	f.c.opts.Gatherer = healthGatherer(t)
	f.seedDecisions()
	ctx := context.Background()
	f.db.AddToken(ctx, "forum-bbs", state.ScopeIngest)
	f.db.AddToken(ctx, "old", state.ScopeFeeds)
	f.db.RevokeToken(ctx, "old")

	a := f.login("alice")
	a.postForm("/lang", url.Values{"csrf": {a.csrf}, "lang": {"zh-CN"}})
	id := f.items[0]
	// Items in every state, with notes and a reason.
	a.api(fmt.Sprintf("/api/v1/queue/%d/claim", id), a.csrf, map[string]any{"version": f.item(id).Version})
	a.api(fmt.Sprintf("/api/v1/queue/%d/note", id), a.csrf, map[string]any{"text": "note"})
	a.api(fmt.Sprintf("/api/v1/queue/%d/reject", f.items[1]), a.csrf, map[string]any{"version": f.item(f.items[1]).Version, "reason": "scam"})
	a.api(fmt.Sprintf("/api/v1/queue/%d/approve", f.items[2]), a.csrf, map[string]any{"version": f.item(f.items[2]).Version})
	a.api(fmt.Sprintf("/api/v1/queue/%d/escalate", f.items[3]), a.csrf, map[string]any{"version": f.item(f.items[3]).Version})
	// Decisions in every state: policy ones (in force, a notice, a dry
	// run), a manual block revoked, one expired.
	a.api("/api/v1/decisions", a.csrf, map[string]any{"action": "block", "scope": "ip", "value": "10.9.8.7", "duration": "1h", "reason": "scan"})
	a.api("/api/v1/decisions/4/revoke", a.csrf, map[string]any{"reason": "lab scanner"})
	a.api("/api/v1/decisions", a.csrf, map[string]any{"action": "warn", "scope": "domain", "value": "bet.example", "duration": "1m", "reason": "spam"})
	f.clock.Add(2 * time.Minute)

	pages := []string{"/", "/queue", "/queue?state=all", "/queue?state=approved", "/queue?category=none-such", "/queue?state=bogus",
		fmt.Sprintf("/queue/%d", id), fmt.Sprintf("/queue/%d", f.items[1]), fmt.Sprintf("/queue/%d", f.items[3]),
		"/hits", "/rules", "/decisions", "/audit", "/users", "/tokens", "/nope", "/queue/999999",
		"/decisions?live=1&policy=phishing-clients", "/decisions?value=nothing.example", "/decisions?live=x&scope=y&value=z&before=0",
		"/decisions/subject?scope=ip&value=10.1.2.3", "/decisions/subject?scope=ip&value=10.9.8.7",
		"/decisions/subject?scope=ip&value=x", "/decisions/subject?scope=x&value=x&before=x"}
	for k := range flashKeys {
		pages = append(pages, "/queue?done="+k)
	}
	for k := range failKeys {
		pages = append(pages, "/queue?fail="+k)
	}
	bodies := map[string]string{}
	for _, p := range pages {
		_, body := a.get(p)
		bodies[p] = body
	}
	// Pages that answer form posts.
	_, bodies["rules test"] = a.postFormBody("/rules/test", url.Values{"csrf": {a.csrf}, "text": {"加微信刷单，身份证 11010519491231002X"}})
	_, bodies["rules test none"] = a.postFormBody("/rules/test", url.Values{"csrf": {a.csrf}, "text": {"hello"}})
	_, bodies["rules test long"] = a.postFormBody("/rules/test", url.Values{"csrf": {a.csrf}, "text": {strings.Repeat("x", maxTestText+1)}})
	_, bodies["user err"] = a.postFormBody("/users", url.Values{"csrf": {a.csrf}, "name": {"alice"}, "role": {"viewer"}, "password": {testPassword}, "password2": {testPassword}})
	_, bodies["token new"] = a.postFormBody("/tokens", url.Values{"csrf": {a.csrf}, "name": {"new"}, "scope": {"bouncer"}})
	_, bodies["csrf"] = a.postFormBody("/tokens", url.Values{"name": {"x"}})
	_, bodies["decide errors"] = a.postFormBody("/decisions", url.Values{"csrf": {a.csrf}, "action": {"x"}, "scope": {"ip"}, "value": {"x"},
		"duration": {"x"}, "severity": {"x"}, "category": {"\x01"}, "reason": {""}})
	_, bodies["decide range"] = a.postFormBody("/decisions", decisionForm(a.csrf, "duration", "999d", "reason", strings.Repeat("r", 1001)))
	_, bodies["decide allowlisted"] = a.postFormBody("/decisions", decisionForm(a.csrf, "value", "10.0.0.1"))
	v := f.login("view")
	v.postForm("/lang", url.Values{"csrf": {v.csrf}, "lang": {"zh-CN"}})
	_, bodies["viewer queue"] = v.get("/queue")
	_, bodies["viewer forbidden"] = v.get("/users")
	_, bodies["viewer subject"] = v.get("/decisions/subject?scope=ip&value=10.1.2.3")
	anon := f.anon()
	anon.lang = "zh-CN"
	_, bodies["login"] = anon.get("/login")
	_, bodies["login failed"] = anon.postFormBody("/login", url.Values{"csrf": {"x"}})
	// The hit search form with every kind of field error.
	hq := url.Values{"search": {"1"}, "range": {"custom"}, "from": {"x"}, "to": {"y"}, "kind": {"smtp"}, "severity": {"dire"},
		"cursor": {"1.2"}, "name": {strings.Repeat("n", 300)}, "client": {"a\x01b"}}
	f.c.hits = nil
	_, bodies["hits errors"] = a.get("/hits?" + hq.Encode())

	for name, body := range bodies {
		if !strings.Contains(body, `lang="zh-CN"`) {
			t.Errorf("%s: not rendered in zh-CN", name)
		}
		if strings.IndexFunc(body, func(r rune) bool { return unicode.Is(unicode.Han, r) }) < 0 {
			t.Errorf("%s: no Chinese on the page", name)
		}
	}
	if m := f.misses.list(); len(m) > 0 {
		sort.Strings(m)
		t.Errorf("keys fell back to English or to the key: %v", m)
	}
}

func TestAcceptLanguage(t *testing.T) {
	for h, want := range map[string]string{
		"":                                "en",
		"zh-CN,zh;q=0.9,en;q=0.8":         "zh-CN",
		"en-US,en;q=0.9,zh-CN;q=0.8":      "en",
		"zh-TW":                           "zh-CN",
		"fr-FR, de;q=0.9, zh;q=0.5":       "zh-CN",
		"en;q=0.1, zh-Hans;q=0.2":         "zh-CN",
		"zh;q=0, en":                      "en",
		"*":                               "en",
		"zh;q=1.5, en":                    "en", // bad qvalue: entry skipped
		"zh;q=0.5000":                     "en",
		"ZH-cn":                           "zh-CN",
		"en-GB;q=0.8;level=1, zh;q=0.81":  "zh-CN",
		strings.Repeat("x-", 600) + ",zh": "en",
	} {
		if got := langFromAcceptLanguage(h); got != want {
			t.Errorf("langFromAcceptLanguage(%q) = %q, want %q", h, got, want)
		}
	}
}

func FuzzAcceptLanguage(f *testing.F) {
	for _, s := range []string{"", "zh-CN,zh;q=0.9,en;q=0.8", "en;q=0.1, zh-Hans;q=0.2", "*;q=0", ";;;,,,", "zh;q=1.000", "a-b-c-d-e-f;q=0.001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got := parseAcceptLanguage(h)
		if len(got) > maxAcceptLanguageItems {
			t.Fatalf("%d entries", len(got))
		}
		for i, l := range got {
			if l.Q <= 0 || l.Q > 1 || !validLangTag(l.Tag) || l.Tag != strings.ToLower(l.Tag) {
				t.Fatalf("entry %+v", l)
			}
			if i > 0 && got[i-1].Q < l.Q {
				t.Fatalf("not sorted: %+v", got)
			}
		}
		if l := langFromAcceptLanguage(h); l != langEN && l != langZH {
			t.Fatalf("language %q", l)
		}
	})
}
