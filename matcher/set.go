package matcher

import (
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/campusguard/campusguard/internal/event"
)

// Set is an immutable, compiled rule set: every loaded pack plus one keyword
// index merged from all of them. It is safe for concurrent use; the Matcher
// swaps whole Sets on reload.
type Set struct {
	packs    []*compiledPack
	keywords *keywordIndex
	kwRules  []kwRule // by keyword-builder ref
	maxHits  int
	scratch  sync.Pool
}

// kwRule ties a keyword occurrence back to its pack and line.
// newSet must not modify the packs: unchanged packs are shared between Sets.
type kwRule struct {
	pack int32
	file uint16
	line uint32
}

func newSet(packs []*compiledPack, fold *foldTable, maxHits int) *Set {
	s := &Set{packs: packs, maxHits: maxHits}
	b := newKeywordBuilder(fold)
	for pi, p := range packs {
		for _, kw := range p.keywords {
			ref := int32(len(s.kwRules))
			if b.add(kw.text, ref) != nil {
				continue // loadPack reported it and dropped the keyword
			}
			s.kwRules = append(s.kwRules, kwRule{pack: int32(pi), file: kw.file, line: kw.line})
		}
	}
	s.keywords = b.build()
	s.scratch.New = func() any { return &scratch{} }
	return s
}

// Packs describes the packs in the set.
func (s *Set) Packs() []PackInfo {
	out := make([]PackInfo, len(s.packs))
	for i, p := range s.packs {
		out[i] = p.info
	}
	return out
}

// MatchEvent matches every field of ev that its kind carries and appends the
// hits to ev.Hits.
func (s *Set) MatchEvent(ev *event.Event) {
	if ev.Kind == event.KindPost {
		ev.Hits = s.MatchText(ev.Kind, event.FieldTitle, ev.Title, ev.Hits)
		ev.Hits = s.MatchText(ev.Kind, event.FieldText, ev.Text, ev.Hits)
		return
	}
	if ev.Name != "" {
		ev.Hits = s.MatchDomain(ev.Kind, ev.Name, ev.Hits)
	}
	if ev.URL != "" {
		ev.Hits = s.MatchText(ev.Kind, event.FieldURL, ev.URL, ev.Hits)
	}
}

// MatchDomain matches a hostname from an event of the given kind: domain
// rules at label boundaries (an exception in a pack silences that pack), then
// keywords and regexes on the normalized name.
func (s *Set) MatchDomain(kind event.Kind, name string, hits []event.Hit) []event.Hit {
	// Offsets carry over only when normalizing just lower-cases ASCII. Then
	// the lower-cased name lives in a stack buffer for the index lookups
	// only, and keywords and regexes (which fold case themselves) see the
	// name as it is; an IDN is converted on the heap for both.
	var (
		lower       [253]byte
		norm        string
		ruleText    string
		ok          bool
		sameOffsets = isASCII(name)
	)
	if sameOffsets {
		norm, ok = normalizeDomainInto(&lower, name)
		ruleText = strings.TrimSuffix(name, ".")
	} else {
		ruleText, ok = normalizeDomain(name)
		norm = ruleText // never the other way round: lower must not escape
	}
	if !ok {
		return hits
	}
	var buf [32]domainHit
	for _, p := range s.packs {
		if p.kinds&(1<<kind) == 0 || p.info.Domains == 0 {
			continue
		}
		found := p.domains.lookup(norm, buf[:0])
		best := -1
		for i, h := range found {
			e := &p.domains.entries[h.entry]
			if e.flags&domainException != 0 {
				best = -1
				break
			}
			if e.flags&domainSubdomainsOnly != 0 && h.at == 0 {
				continue
			}
			if best < 0 {
				best = i
			}
		}
		if best < 0 {
			continue
		}
		h := found[best]
		e := &p.domains.entries[h.entry]
		start, end := int(h.at), len(norm)
		if !sameOffsets {
			start, end = 0, len(name)
		}
		hits = append(hits, p.hit(e.file, e.line, name[start:end], event.FieldName, start, end))
	}
	return s.matchText(kind, event.FieldName, ruleText, name, sameOffsets, hits)
}

// MatchText matches free text (a post title or body, a URL) against
// keywords, regexes and detectors.
func (s *Set) MatchText(kind event.Kind, field, text string, hits []event.Hit) []event.Hit {
	return s.matchText(kind, field, text, text, true, hits)
}

// matchText matches text, a form of orig. Hits quote orig, never text (which
// may be a scratch buffer): at text's offsets when exact, else all of orig.
func (s *Set) matchText(kind event.Kind, field, text, orig string, exact bool, hits []event.Hit) []event.Hit {
	if text == "" {
		return hits
	}
	limit := s.maxHits - len(hits)
	if limit <= 0 {
		return hits
	}
	sc := s.scratch.Get().(*scratch)
	defer s.scratch.Put(sc)
	if len(s.kwRules) > 0 {
		s.keywords.foldInto(text, sc)
		s.keywords.scan(sc, limit)
		for _, m := range sc.matches {
			start, end := sc.span(m)
			for _, ref := range s.keywords.kwRefs[m.kw] {
				r := s.kwRules[ref]
				p := s.packs[r.pack]
				if p.kinds&(1<<kind) != 0 && len(hits) < s.maxHits {
					hits = append(hits, p.hitIn(r.file, r.line, orig, exact, field, start, end))
				}
			}
		}
	}
	rtext := text
	if len(rtext) > MaxRegexInput {
		cut := MaxRegexInput
		for i := 0; i < utf8.UTFMax-1 && !utf8.RuneStart(rtext[cut]); i++ {
			cut--
		}
		rtext = rtext[:cut]
	}
	for _, p := range s.packs {
		if p.kinds&(1<<kind) == 0 {
			continue
		}
		for _, r := range p.regexes {
			if len(hits) >= s.maxHits {
				return hits
			}
			if !r.pre.mayMatch(rtext) {
				continue
			}
			if loc := r.re.FindStringIndex(rtext); loc != nil && loc[0] < loc[1] {
				hits = append(hits, p.hitIn(r.file, r.line, orig, exact, field, loc[0], loc[1]))
			}
		}
		if len(p.detectors) > 0 && kind == event.KindPost {
			hits = p.detect(text, field, hits, s.maxHits, &sc.runs)
		}
	}
	return hits
}

// detect runs the pack's PII detectors; the hit's match is masked.
func (p *compiledPack) detect(text, field string, hits []event.Hit, max int, runs *[2]digitRun) []event.Hit {
	forEachNumberIn(text, runs, func(r *digitRun) {
		if r.n > maxDigitRun || len(hits) >= max {
			return
		}
		d := r.digits[:r.n]
		for _, det := range p.detectors {
			if det.fn(d) {
				h := p.hit(0, det.line, maskDigits(d), field, r.start, r.end)
				h.Rule = "detector:" + det.name
				hits = append(hits, h)
			}
		}
	})
	return hits
}

// hitIn reports orig[start:end], or all of orig when the offsets belong to
// a normalized form of it that does not line up.
func (p *compiledPack) hitIn(file uint16, line uint32, orig string, exact bool, field string, start, end int) event.Hit {
	if !exact {
		return p.hit(file, line, orig, field, 0, len(orig))
	}
	return p.hit(file, line, orig[start:end], field, start, end)
}

func (p *compiledPack) hit(file uint16, line uint32, match, field string, start, end int) event.Hit {
	action := p.info.NetAction
	if field == event.FieldTitle || field == event.FieldText {
		action = p.info.PostAction
	}
	return event.Hit{
		Pack:     p.info.Name,
		Rule:     p.ruleID(file, line),
		Category: p.info.Category,
		Severity: p.info.Severity,
		Action:   action,
		Match:    match,
		Field:    field,
		Start:    start,
		End:      end,
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
