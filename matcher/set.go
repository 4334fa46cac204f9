package matcher

import (
	"slices"
	"strings"
	"sync"
	"unicode"
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
	kwKinds  uint32   // the event kinds some keyword applies to
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
	s.keywords.kwKinds = make([]uint32, len(s.keywords.kwRefs))
	for k, refs := range s.keywords.kwRefs {
		for _, ref := range refs {
			s.keywords.kwKinds[k] |= packs[s.kwRules[ref].pack].kinds
		}
		s.kwKinds |= s.keywords.kwKinds[k]
	}
	s.scratch.New = func() any { return &scratch{} }
	return s
}

// maxPooledChars bounds the scratch the pool keeps: one huge text must not
// pin tens of megabytes for the life of the Set.
const maxPooledChars = 1 << 20

func (s *Set) putScratch(sc *scratch) {
	if cap(sc.chars) <= maxPooledChars {
		s.scratch.Put(sc)
	}
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
		ev.Hits = s.matchLinks(ev.Kind, event.FieldText, ev.Text, ev.Hits)
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
	hits, ruleText, exact, ok := s.matchDomainRules(kind, event.FieldName, name, 0, hits, nil)
	if !ok {
		return hits
	}
	return s.matchText(kind, event.FieldName, ruleText, name, exact, hits)
}

// matchDomainRules runs the domain rules on name, a hostname found at byte
// base of field. It returns the form of the name keywords and regexes should
// see, and whether offsets into it carry over to name. With decided, it
// skips the packs marked there and marks those that give a verdict (a hit
// or an exception): a link's host may be read several ways, and a pack
// answers for the first reading it knows.
func (s *Set) matchDomainRules(kind event.Kind, field, name string, base int, hits []event.Hit, decided *packMask) ([]event.Hit, string, bool, bool) {
	// Offsets carry over only when normalizing just lower-cases ASCII. Then
	// the lower-cased name lives in a stack buffer for the index lookups
	// only, and keywords and regexes (which fold case themselves) see the
	// name as it is; an IDN is converted on the heap for both.
	var lower [253]byte
	norm, sameOffsets, ok := lowerASCIIDomain(&lower, name) // one pass: ASCII? upper case?
	ruleText := strings.TrimSuffix(name, ".")
	if ok && !sameOffsets {
		ruleText, ok = normalizeIDN(ruleText)
		norm = ruleText // never the other way round: lower must not escape
	}
	if !ok {
		return hits, "", false, false
	}
	var buf [32]domainHit
	for pi, p := range s.packs {
		if p.kinds&(1<<kind) == 0 || p.info.Domains == 0 || len(hits) >= s.maxHits || decided.has(pi) {
			continue
		}
		found := p.domains.lookup(norm, buf[:0])
		best, excepted := -1, false
		for i, h := range found {
			e := &p.domains.slots[h.entry]
			if e.flags&domainException != 0 {
				best, excepted = -1, true
				break
			}
			if e.flags&domainSubdomainsOnly != 0 && h.at == 0 {
				continue
			}
			if best < 0 {
				best = i
			}
		}
		if best >= 0 || excepted {
			decided.set(pi)
		}
		if best < 0 {
			continue
		}
		h := found[best]
		e := &p.domains.slots[h.entry]
		start, end := int(h.at), len(norm)
		if !sameOffsets {
			start, end = 0, len(name)
		}
		hits = append(hits, p.hit(e.file, e.line, name[start:end], field, base+start, base+end))
	}
	return hits, ruleText, sameOffsets, true
}

// matchLinks runs the domain rules on the host of every http(s) link and
// www. name in a post, so a phishing link in a forum post hits the same
// rules as a DNS query for it. Chinese text often runs straight on from a
// link, so a host is read up to three ways (linkHostNames), and each pack
// reports on the first reading it has a verdict for.
func (s *Set) matchLinks(kind event.Kind, field, text string, hits []event.Hit) []event.Hit {
	var names [3]string
	for i := 0; i < len(text); {
		host, at, next := nextLinkHost(text, i)
		if at < 0 {
			break
		}
		var decided packMask
		for _, name := range linkHostNames(host, &names) {
			hits, _, _, _ = s.matchDomainRules(kind, field, name, at, hits, &decided)
		}
		i = next
	}
	return hits
}

// linkHostNames lists the names a link's host may be, most likely first:
// the host as found ("evil。test" is evil.test); the host cut at its first
// full stop other than '.', as 。 also ends a Chinese sentence
// ("中文.evil.test。领取奖励"); and its ASCII start, for Chinese text that
// follows a link without a stop ("evil.test领取奖励"). Each loses its
// trailing dots; empty names and repeats are left out.
func linkHostNames(host string, out *[3]string) []string {
	names := appendHostName(out[:0], host)
	if cut := strings.IndexAny(host, "。．｡"); cut >= 0 {
		names = appendHostName(names, host[:cut])
	}
	k := 0
	for k < len(host) && host[k] < utf8.RuneSelf {
		k++
	}
	return appendHostName(names, host[:k])
}

// appendHostName appends name, without its trailing dots, unless it is
// empty or already listed.
func appendHostName(names []string, name string) []string {
	name = trimHostDots(name)
	if name == "" || slices.Contains(names, name) {
		return names
	}
	return append(names, name)
}

// packMask marks the packs that have given a verdict on a link's host. Its
// methods accept nil, which marks nothing.
type packMask struct {
	low  uint64
	more map[int]bool // packs from the 64th on
}

func (m *packMask) has(i int) bool {
	switch {
	case m == nil:
		return false
	case i < 64:
		return m.low>>i&1 != 0
	}
	return m.more[i]
}

func (m *packMask) set(i int) {
	switch {
	case m == nil:
	case i < 64:
		m.low |= 1 << i
	default:
		if m.more == nil {
			m.more = map[int]bool{}
		}
		m.more[i] = true
	}
}

// nextLinkHost finds the next "scheme://host" or "www.host" at or after
// from and returns the host, its offset (-1: none) and where to go on. The
// host loses a user@ before it and dots after it ("https://evil.test..."
// ends a sentence), and takes the full stops IDNA maps to a dot (。．｡),
// which browsers accept in a host.
func nextLinkHost(text string, from int) (string, int, int) {
	for i := from; i < len(text); i++ {
		var at int
		switch {
		case text[i] == ':' && strings.HasPrefix(text[i:], "://") && i > 0 && isSchemeByte(text[i-1]):
			at = i + 3
		case (text[i] == 'w' || text[i] == 'W') && len(text)-i > 4 && strings.EqualFold(text[i:i+4], "www.") &&
			(i == 0 || !isHostByte(text[i-1])):
			at = i
		default:
			continue
		}
		end := at
		for end < len(text) {
			if c := text[end]; c < utf8.RuneSelf {
				if !isHostByte(c) {
					break
				}
				end++
				continue
			}
			r, size := utf8.DecodeRuneInString(text[end:])
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !isDotLike(r) {
				break
			}
			end += size
		}
		hostEnd := end
		if strings.HasPrefix(text[end:], "://") { // run on into the next link: not its scheme
			for hostEnd > at && isSchemeByte(text[hostEnd-1]) {
				hostEnd--
			}
		}
		if at2 := strings.LastIndexByte(text[at:hostEnd], '@'); at2 >= 0 { // user@host
			at += at2 + 1
		}
		if host := trimHostDots(text[at:hostEnd]); host != "" {
			return host, at, end
		}
		// No host ("x:// https://evil.test"): look on after this one.
	}
	return "", -1, len(text)
}

// isDotLike: the full stops IDNA maps to '.'.
func isDotLike(r rune) bool { return r == '。' || r == '．' || r == '｡' }

// trimHostDots drops the dots and dot-likes a host ends with.
func trimHostDots(host string) string {
	for host != "" {
		if host[len(host)-1] == '.' {
			host = host[:len(host)-1]
			continue
		}
		r, size := utf8.DecodeLastRuneInString(host)
		if !isDotLike(r) {
			break
		}
		host = host[:len(host)-size]
	}
	return host
}

func isSchemeByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isHostByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '@'
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
	// The scratch comes from the pool only for keywords or detectors: a
	// DNS name needs none when no keyword pack applies to DNS.
	var sc *scratch
	defer func() {
		if sc != nil {
			s.putScratch(sc)
		}
	}()
	if s.kwKinds&(1<<kind) != 0 {
		sc = s.scratch.Get().(*scratch)
		sc.kinds = 1 << kind
		s.keywords.scan(text, sc, limit)
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
			if sc == nil {
				sc = s.scratch.Get().(*scratch)
			}
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
