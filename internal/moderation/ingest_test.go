package moderation

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/state"
	"github.com/campusguard/campusguard/matcher"
)

// lastAudit is the newest audit entry.
func lastAudit(t testing.TB, f *fixture) state.AuditEntry {
	t.Helper()
	es, err := f.db.AuditLog(context.Background(), 1, 0)
	if err != nil || len(es) != 1 {
		t.Fatalf("audit log: %v %v", es, err)
	}
	return es[0]
}

const (
	cleanBody = "二手高数教材出售，九成新，有笔记，宿舍楼下自取。"
	fraudBody = "【兼职】日结兼职，在家刷单每天轻松赚300"
)

func TestIngestVerdicts(t *testing.T) {
	f := newFixture(t)
	res := f.ingest(t,
		Post{ID: "1", Forum: "bbs", Author: "u1", Body: cleanBody},
		Post{ID: "2", Forum: "bbs", Author: "u2", Title: "急招", Body: fraudBody, URL: "https://bbs.example/t/2"},
		Post{ID: "3", Forum: "bbs", Author: "u3", Body: "buy now flagword"},
		Post{ID: "4", Forum: "bbs", Author: "u4", Title: "rejectword", Body: "see title"},
	)
	wantVerdicts := []Verdict{VerdictAllow, VerdictHold, VerdictFlag, VerdictReject}
	for i, r := range res {
		if r.Verdict != wantVerdicts[i] {
			t.Errorf("post %s: verdict %s, want %s (hits %+v)", r.ID, r.Verdict, wantVerdicts[i], r.Hits)
		}
		if r.Hits == nil {
			t.Errorf("post %s: Hits is nil, must be [] for JSON", r.ID)
		}
		if (r.Item != 0) != (i > 0) {
			t.Errorf("post %s: item %d", r.ID, r.Item)
		}
	}
	if b, _ := json.Marshal(res[0]); string(b) != `{"id":"1","forum":"bbs","verdict":"allow","hits":[]}` {
		t.Errorf("allowed result JSON: %s", b)
	}

	it, err := f.s.Get(context.Background(), res[1].Item)
	if err != nil {
		t.Fatal(err)
	}
	if it.Forum != "bbs" || it.PostID != "2" || it.Author != "u2" || it.Title != "急招" || it.Body != fraudBody ||
		it.URL != "https://bbs.example/t/2" || it.Verdict != VerdictHold || it.Category != "fraud" ||
		it.Severity != event.SeverityHigh || it.State != StatePending || it.Version != 1 || it.Reopened != 0 ||
		!it.Created.Equal(f.clock.Now()) || !it.PostTime.Equal(f.clock.Now()) {
		t.Errorf("item: %+v", it)
	}
	if d := cmp.Diff(res[1].Hits, it.Hits); d != "" {
		t.Errorf("item hits differ from the result's (-result +item):\n%s", d)
	}
	for _, h := range it.Hits {
		if h.Field != event.FieldText || it.Body[h.Start:h.End] == "" {
			t.Errorf("hit span %+v does not point into the body", h)
		}
	}
	rej, _ := f.s.Get(context.Background(), res[3].Item)
	if rej.Verdict != VerdictReject || rej.Severity != event.SeverityCritical || rej.State != StatePending ||
		rej.Hits[0].Field != event.FieldTitle || rej.Title[rej.Hits[0].Start:rej.Hits[0].End] != "rejectword" {
		t.Errorf("rejected post's item: %+v", rej)
	}

	// The sink got the three posts with hits, without their content.
	if f.sink.len() != 3 {
		t.Fatalf("sink got %d events, want 3", f.sink.len())
	}
	for _, ev := range f.sink.events {
		if ev.Kind != event.KindPost || ev.Sensor != "test" || ev.Forum != "bbs" || len(ev.Hits) == 0 || ev.Title != "" || ev.Text != "" {
			t.Errorf("sink event %+v", ev)
		}
	}
	if n := f.auditCount(t); n != 3 {
		t.Errorf("%d audit entries, want 3 (queue.add for each queued post)", n)
	}
}

// Posts that hit nothing leave only metadata: no title or body anywhere.
func TestIngestKeepsNoContentOfAllowedPosts(t *testing.T) {
	f := newFixture(t)
	secret := "我的宿舍在七号楼三零二，周末一起去爬山吧"
	f.ingest(t, Post{ID: "p1", Forum: "bbs", Author: "alice", Title: "周末活动 " + secret, Body: secret})
	if n := f.count(t, `SELECT COUNT(*) FROM moderation_posts WHERE forum = 'bbs' AND post_id = 'p1' AND author = 'alice' AND length(hash) = 32 AND verdict = 'allow' AND item = 0 AND hits = ''`); n != 1 {
		t.Fatalf("post metadata row missing")
	}
	for _, q := range []string{
		`SELECT COUNT(*) FROM moderation_posts WHERE instr(forum || post_id || author || verdict || hits, ?) > 0`,
		`SELECT COUNT(*) FROM moderation_items WHERE instr(title || body, ?) > 0`,
		`SELECT COUNT(*) FROM audit_log WHERE instr(before || after || reason, ?) > 0`,
	} {
		if n := f.count(t, q, "七号楼"); n != 0 {
			t.Errorf("%s: the allowed post's content is stored", q)
		}
	}
}

func TestIngestIdempotent(t *testing.T) {
	f := newFixture(t)
	posts := []Post{
		{ID: "1", Forum: "bbs", Author: "u1", Body: cleanBody},
		{ID: "2", Forum: "bbs", Author: "u2", Body: fraudBody},
	}
	first := f.ingest(t, posts...)
	items, audits, events := f.count(t, `SELECT COUNT(*) FROM moderation_items`), f.auditCount(t), f.sink.len()
	if items != 1 || audits != 1 || events != 1 {
		t.Fatalf("after the first send: %d items, %d audit entries, %d events", items, audits, events)
	}
	f.clock.Add(time.Hour)
	// The same posts again, with another time stamp (the forum's retry):
	// the same answer, nothing changes.
	for i := range posts {
		posts[i].Time = f.clock.Now()
	}
	again := f.ingest(t, posts...)
	if d := cmp.Diff(first, again); d != "" {
		t.Errorf("retry answered differently (-first +retry):\n%s", d)
	}
	if f.count(t, `SELECT COUNT(*) FROM moderation_items`) != items || f.auditCount(t) != audits || f.sink.len() != events {
		t.Errorf("the retry changed something: %d items, %d audit entries, %d events",
			f.count(t, `SELECT COUNT(*) FROM moderation_items`), f.auditCount(t), f.sink.len())
	}
	it, _ := f.s.Get(context.Background(), first[1].Item)
	if it.Version != 1 || it.Updated.After(f.clock.Now().Add(-time.Hour)) {
		t.Errorf("retry touched the item: version %d, updated %s", it.Version, it.Updated)
	}
	if n := f.count(t, `SELECT COUNT(*) FROM moderation_posts WHERE edits > 0`); n != 0 {
		t.Errorf("%d posts counted as edited", n)
	}

	// The same post twice in one request: one record.
	res := f.ingest(t, Post{ID: "9", Forum: "bbs", Body: "rejectword"}, Post{ID: "9", Forum: "bbs", Body: "rejectword"})
	if res[0].Item == 0 || res[0].Item != res[1].Item || f.count(t, `SELECT COUNT(*) FROM moderation_items WHERE post_id = '9'`) != 1 {
		t.Errorf("duplicate in one request: %+v", res)
	}
	// The same id in another forum is another post.
	other := f.ingest(t, Post{ID: "2", Forum: "other", Author: "u2", Body: fraudBody})
	if other[0].Item == first[1].Item || other[0].Item == 0 {
		t.Errorf("post 2 of forum other shares item %d", other[0].Item)
	}
}

func TestIngestReopenOnEdit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	post := Post{ID: "42", Forum: "bbs", Author: "u1", Title: "兼职", Body: fraudBody}
	first := f.ingest(t, post)[0]
	id := first.Item
	it, err := f.s.Decide(ctx, id, 1, "mod", DecideApprove, "")
	if err != nil {
		t.Fatal(err)
	}
	if it.State != StateApproved || it.Version != 2 {
		t.Fatalf("approved: %+v", it)
	}
	audits, events := f.auditCount(t), f.sink.len()

	// Re-sent unchanged after the decision: nothing happens.
	if r := f.ingest(t, post)[0]; r.Item != id || r.Verdict != VerdictHold {
		t.Errorf("resend: %+v", r)
	}
	if it, _ := f.s.Get(ctx, id); it.State != StateApproved || it.Version != 2 || f.auditCount(t) != audits || f.sink.len() != events {
		t.Errorf("resend of a decided post changed it: %+v", it)
	}

	// Edited and still hitting: the same item is reopened.
	f.clock.Add(time.Minute)
	post.Body = fraudBody + "，加微信 easy_money88 详谈"
	r := f.ingest(t, post)[0]
	if r.Item != id || r.Verdict != VerdictHold {
		t.Fatalf("edit: %+v", r)
	}
	it, _ = f.s.Get(ctx, id)
	if it.State != StatePending || it.Version != 3 || it.Reopened != 1 || it.Body != post.Body || len(it.Hits) != len(r.Hits) ||
		!it.Updated.Equal(f.clock.Now()) || it.DecidedBy != "mod" {
		t.Errorf("reopened item: %+v", it)
	}
	if f.count(t, `SELECT COUNT(*) FROM moderation_items`) != 1 {
		t.Error("the edit made a second item")
	}
	last := lastAudit(t, f)
	if last.Action != "queue.reopen" || last.Actor != "token:forum" || last.Object != "post:bbs/42" ||
		!strings.Contains(last.Before, `"state":"approved"`) || !strings.Contains(last.After, `"state":"pending"`) {
		t.Errorf("reopen audit: %+v", last)
	}
	if f.sink.len() != events+1 {
		t.Errorf("the edit's hits did not reach the sink")
	}
	// An undo of the approval is no longer possible: the item was reopened.
	if _, err := f.s.Undo(ctx, id, "mod"); !errors.Is(err, ErrConflict) {
		t.Errorf("undo after reopen: %v", err)
	}

	// Edited to something clean: allow for the forum, the item stays.
	post.Body = cleanBody
	r = f.ingest(t, post)[0]
	if r.Verdict != VerdictAllow || r.Item != 0 || len(r.Hits) != 0 {
		t.Errorf("clean edit: %+v", r)
	}
	if it, _ := f.s.Get(ctx, id); it.Version != 3 || it.Body == cleanBody {
		t.Errorf("a clean edit changed the item: %+v", it)
	}
	// And back: reopened again.
	post.Body = fraudBody
	if r := f.ingest(t, post)[0]; r.Item != id {
		t.Errorf("re-flag: %+v", r)
	}
	if it, _ := f.s.Get(ctx, id); it.Reopened != 2 || it.Version != 4 || it.State != StatePending {
		t.Errorf("re-flagged item: %+v", it)
	}
	if n := f.count(t, `SELECT edits FROM moderation_posts WHERE post_id = '42'`); n != 3 {
		t.Errorf("%d edits recorded, want 3", n)
	}

	// An allowed post edited to hit gets its first item.
	f.ingest(t, Post{ID: "43", Forum: "bbs", Body: cleanBody})
	r = f.ingest(t, Post{ID: "43", Forum: "bbs", Body: "rejectword"})[0]
	if r.Verdict != VerdictReject || r.Item == 0 || lastAudit(t, f).Action != "queue.add" {
		t.Errorf("allowed post edited to hit: %+v", r)
	}
	f.auditCount(t)
}

// An edit while a moderator holds the item clears the claim: what they
// were looking at is gone, and their version no longer matches.
func TestIngestEditWhileClaimed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	post := Post{ID: "7", Forum: "bbs", Body: fraudBody}
	id := f.ingest(t, post)[0].Item
	claimed, err := f.s.Claim(ctx, id, 1, "alice")
	if err != nil {
		t.Fatal(err)
	}
	post.Body += "！"
	f.ingest(t, post)
	if _, err := f.s.Decide(ctx, id, claimed.Version, "alice", DecideApprove, ""); !errors.Is(err, ErrConflict) {
		t.Errorf("decision on the old version: %v", err)
	}
	it, _ := f.s.Get(ctx, id)
	if it.State != StatePending || it.ClaimedBy != "" {
		t.Errorf("after the edit: %+v", it)
	}
	// An escalated item stays escalated when its post is edited.
	if _, err := f.s.Decide(ctx, id, it.Version, "alice", DecideEscalate, "needs a senior look"); err != nil {
		t.Fatal(err)
	}
	post.Body += "！"
	f.ingest(t, post)
	if it, _ := f.s.Get(ctx, id); it.State != StateEscalated || it.Reopened != 2 {
		t.Errorf("escalated item after an edit: %+v", it)
	}
}

func TestIngestRefusesBadPosts(t *testing.T) {
	f := newFixture(t)
	_, err := f.s.Ingest(context.Background(), []Post{{ID: "1", Forum: "bbs", Body: "x"}, {ID: "2", Body: "y"}}, "token:forum")
	var fe *FieldError
	if !errors.As(err, &fe) || err.Error() != "line 2: field forum: required" {
		t.Fatalf("got %v", err)
	}
	if n := f.count(t, `SELECT COUNT(*) FROM moderation_posts`); n != 0 {
		t.Errorf("%d posts recorded from a refused call", n)
	}
	res, err := f.s.Ingest(context.Background(), nil, "token:forum")
	if err != nil || len(res) != 0 {
		t.Errorf("no posts: %v %v", res, err)
	}
}

func TestIngestWithoutRules(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Rules = func() *matcher.Set { return nil } })
	if _, err := f.s.Ingest(context.Background(), []Post{{ID: "1", Forum: "bbs", Body: "x"}}, "t"); !errors.Is(err, ErrNoRules) {
		t.Fatalf("got %v", err)
	}
}

// A canceled request is not recorded, and says so.
func TestIngestCanceled(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.s.Ingest(ctx, []Post{{ID: "1", Forum: "bbs", Body: fraudBody}}, "t"); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if n := f.count(t, `SELECT COUNT(*) FROM moderation_posts`); n != 0 {
		t.Errorf("%d posts recorded", n)
	}
}

func TestJudge(t *testing.T) {
	h := func(action string, sev event.Severity, cat string) event.Hit {
		return event.Hit{Action: action, Severity: sev, Category: cat}
	}
	for _, c := range []struct {
		hits []event.Hit
		v    Verdict
		cat  string
		sev  event.Severity
	}{
		{nil, VerdictAllow, "", 0},
		{[]event.Hit{h("allow", event.SeverityLow, "spam")}, VerdictAllow, "spam", event.SeverityLow},
		{[]event.Hit{h("flag", event.SeverityLow, "spam"), h("hold", event.SeverityHigh, "fraud")}, VerdictHold, "fraud", event.SeverityHigh},
		{[]event.Hit{h("reject", event.SeverityLow, "spam"), h("hold", event.SeverityHigh, "fraud")}, VerdictReject, "fraud", event.SeverityHigh},
		{[]event.Hit{h("hold", event.SeverityHigh, "fraud"), h("flag", event.SeverityHigh, "pii")}, VerdictHold, "fraud", event.SeverityHigh},
		{[]event.Hit{h("block", event.SeverityMedium, "x")}, VerdictFlag, "x", event.SeverityMedium}, // unknown action: reviewed
	} {
		v, cat, sev := judge(c.hits)
		if v != c.v || cat != c.cat || sev != c.sev {
			t.Errorf("%+v: %s %s %s, want %s %s %s", c.hits, v, cat, sev, c.v, c.cat, c.sev)
		}
	}
}

func TestContentHash(t *testing.T) {
	a := contentHash(&Post{Author: "ab", Title: "c"})
	b := contentHash(&Post{Author: "a", Title: "bc"})
	if a == b {
		t.Error("moving bytes between fields keeps the hash")
	}
	if contentHash(&Post{ID: "1", Body: "x"}) != contentHash(&Post{ID: "2", Body: "x", Time: time.Now()}) {
		t.Error("id or time changes the content hash")
	}
}

// Content is stored exactly: NUL bytes, emoji, combining marks, a body at
// its limit; hit spans slice the stored text.
func TestIngestStoresContentExactly(t *testing.T) {
	f := newFixture(t)
	body := "a\x00b 👩‍👩‍👧 e\u0301 " + fraudBody + strings.Repeat("好", (65536-60-len(fraudBody))/3)
	title := "t\x00\u200b刷\u200b单"
	r := f.ingest(t, Post{ID: "n", Forum: "bbs", Author: "名字", Title: title, Body: body})[0]
	it, err := f.s.Get(context.Background(), r.Item)
	if err != nil {
		t.Fatal(err)
	}
	if it.Body != body || it.Title != title || it.Author != "名字" {
		t.Fatalf("stored %d bytes of %d, title %q", len(it.Body), len(body), it.Title)
	}
	for _, h := range it.Hits {
		text := it.Body
		if h.Field == event.FieldTitle {
			text = it.Title
		}
		if h.Start < 0 || h.End > len(text) || h.Start >= h.End {
			t.Errorf("hit %+v outside its field", h)
		}
	}
	if again := f.ingest(t, Post{ID: "n", Forum: "bbs", Author: "名字", Title: title, Body: body})[0]; again.Item != r.Item || f.auditCount(t) != 1 {
		t.Error("the same content was not recognized")
	}
}

func TestFieldErrorText(t *testing.T) {
	for _, c := range []struct {
		e    FieldError
		want string
	}{
		{FieldError{Line: 3, Field: "body", Msg: "too long (70000 bytes, at most 65536)"}, "line 3: field body: too long (70000 bytes, at most 65536)"},
		{FieldError{Field: "id", Msg: "required"}, "field id: required"},
		{FieldError{Line: 2, Msg: "not JSON: x"}, "line 2: not JSON: x"},
		{FieldError{Msg: "empty"}, "empty"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("%q, want %q", got, c.want)
		}
	}
}
