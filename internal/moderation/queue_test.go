package moderation

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/campusguard/campusguard/internal/state"
)

// queued ingests a post that is held and returns its item id.
func queued(t testing.TB, f *fixture, id string) int64 {
	t.Helper()
	r := f.ingest(t, Post{ID: id, Forum: "bbs", Author: "author-" + id, Body: fraudBody + " " + id})[0]
	if r.Item == 0 {
		t.Fatalf("post %s was not queued: %+v", id, r)
	}
	return r.Item
}

func TestStateMachine(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := queued(t, f, "1")

	it, err := f.s.Claim(ctx, id, 1, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if it.State != StateClaimed || it.ClaimedBy != "alice" || it.Version != 2 || !it.ClaimExpires.Equal(f.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("claimed: %+v", it)
	}
	// Someone else cannot claim, release or decide it.
	if _, err := f.s.Claim(ctx, id, 2, "bob"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "claimed by alice") {
		t.Errorf("bob's claim: %v", err)
	}
	if _, err := f.s.Release(ctx, id, 2, "bob"); !errors.Is(err, ErrConflict) {
		t.Errorf("bob's release: %v", err)
	}
	if _, err := f.s.Decide(ctx, id, 2, "bob", DecideApprove, ""); !errors.Is(err, ErrConflict) {
		t.Errorf("bob's decision: %v", err)
	}
	// Alice renews her claim.
	f.clock.Add(time.Minute)
	if it, err = f.s.Claim(ctx, id, 2, "alice"); err != nil || it.Version != 3 || !it.ClaimExpires.Equal(f.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("renewal: %+v %v", it, err)
	}
	// A stale version is refused.
	if _, err := f.s.Release(ctx, id, 2, "alice"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "version 3, not 2") {
		t.Errorf("release at a stale version: %v", err)
	}
	if it, err = f.s.Release(ctx, id, 3, "alice"); err != nil || it.State != StatePending || it.ClaimedBy != "" || it.Version != 4 {
		t.Fatalf("release: %+v %v", it, err)
	}
	if _, err := f.s.Release(ctx, id, 4, "alice"); !errors.Is(err, ErrConflict) {
		t.Errorf("release of an unclaimed item: %v", err)
	}

	// Decide: reject needs a reason, the version must match.
	for _, reason := range []string{"", "  \n"} {
		if _, err := f.s.Decide(ctx, id, 4, "alice", DecideReject, reason); !errors.Is(err, ErrNeedReason) {
			t.Errorf("reject with reason %q: %v", reason, err)
		}
	}
	if _, err := f.s.Decide(ctx, id, 3, "alice", DecideReject, "scam"); !errors.Is(err, ErrConflict) {
		t.Errorf("decision at a stale version: %v", err)
	}
	if _, err := f.s.Decide(ctx, id, 4, "alice", "delete", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown decision: %v", err)
	}
	if _, err := f.s.Decide(ctx, 999, 1, "alice", DecideApprove, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("no such item: %v", err)
	}
	if _, err := f.s.Claim(ctx, id, 4, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("no user: %v", err)
	}
	it, err = f.s.Decide(ctx, id, 4, "alice", DecideReject, "click-farming scam")
	if err != nil {
		t.Fatal(err)
	}
	if it.State != StateRejected || it.DecidedBy != "alice" || !it.DecidedAt.Equal(f.clock.Now()) || it.Reason != "click-farming scam" || it.Version != 5 || it.Open() {
		t.Fatalf("rejected: %+v", it)
	}
	// A decided item cannot be claimed, nor decided the same way again.
	if _, err := f.s.Claim(ctx, id, 5, "bob"); !errors.Is(err, ErrConflict) {
		t.Errorf("claim of a rejected item: %v", err)
	}
	if _, err := f.s.Decide(ctx, id, 5, "bob", DecideReject, "again"); !errors.Is(err, ErrConflict) {
		t.Errorf("second reject: %v", err)
	}
	// But it can be changed (an appeal), and that is undone to the reject.
	if it, err = f.s.Decide(ctx, id, 5, "bob", DecideApprove, "appeal upheld"); err != nil || it.State != StateApproved {
		t.Fatalf("appeal: %+v %v", it, err)
	}
	if it, err = f.s.Undo(ctx, id, "bob"); err != nil || it.State != StateRejected || it.DecidedBy != "alice" || it.Reason != "click-farming scam" {
		t.Fatalf("undo of the appeal: %+v %v", it, err)
	}
	got, err := f.s.Get(ctx, id)
	if err != nil || got.Version != it.Version || got.State != StateRejected {
		t.Errorf("Get after undo: %+v %v", got, err)
	}
	if _, err := f.s.Get(ctx, 12345); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of no item: %v", err)
	}
}

func TestClaimExpires(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.ClaimTTL = 5 * time.Minute })
	ctx := context.Background()
	id := queued(t, f, "1")
	if _, err := f.s.Claim(ctx, id, 1, "alice"); err != nil {
		t.Fatal(err)
	}
	if items, _, _ := f.s.List(ctx, ListFilter{States: []State{StateClaimed}}); len(items) != 1 {
		t.Fatalf("claimed items: %+v", items)
	}
	f.clock.Add(5*time.Minute + time.Second)
	it, _ := f.s.Get(ctx, id)
	if it.State != StatePending || it.ClaimedBy != "" || !it.ClaimExpires.IsZero() || it.Version != 2 {
		t.Errorf("after expiry: %+v", it)
	}
	items, total, err := f.s.List(ctx, ListFilter{States: []State{StatePending}})
	if err != nil || total != 1 || len(items) != 1 || items[0].State != StatePending {
		t.Errorf("pending list after expiry: %d %+v %v", total, items, err)
	}
	counts, _, _ := f.s.Counts(ctx)
	if counts[StatePending] != 1 || counts[StateClaimed] != 0 {
		t.Errorf("counts after expiry: %v", counts)
	}
	// Free for bob now; alice's late decision is refused.
	if it, err = f.s.Claim(ctx, id, 2, "bob"); err != nil || it.ClaimedBy != "bob" {
		t.Fatalf("bob's claim: %+v %v", it, err)
	}
	if _, err := f.s.Decide(ctx, id, 3, "alice", DecideApprove, ""); !errors.Is(err, ErrConflict) {
		t.Errorf("alice deciding bob's item: %v", err)
	}
	// A decision without a claim is fine when nobody holds one.
	f.clock.Add(6 * time.Minute)
	if it, err = f.s.Decide(ctx, id, 3, "alice", DecideApprove, ""); err != nil || it.State != StateApproved {
		t.Errorf("decision after bob's claim expired: %+v %v", it, err)
	}
}

func TestEscalateAndUndo(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.UndoWindow = time.Minute })
	ctx := context.Background()
	id := queued(t, f, "1")
	it, err := f.s.Decide(ctx, id, 1, "alice", DecideEscalate, "looks like a real loan scam ring")
	if err != nil {
		t.Fatal(err)
	}
	if it.State != StateEscalated || !it.Open() || it.DecidedBy != "alice" {
		t.Fatalf("escalated: %+v", it)
	}
	if items, _, _ := f.s.List(ctx, ListFilter{}); len(items) != 1 || items[0].State != StateEscalated {
		t.Errorf("the open queue lacks the escalated item: %+v", items)
	}
	if _, err := f.s.Decide(ctx, id, 2, "alice", DecideEscalate, ""); !errors.Is(err, ErrConflict) {
		t.Errorf("escalating twice: %v", err)
	}
	// The senior claims and rejects; the claim on an escalated item keeps
	// it escalated underneath.
	if it, err = f.s.Claim(ctx, id, 2, "senior"); err != nil || it.State != StateClaimed {
		t.Fatalf("claim: %+v %v", it, err)
	}
	if it, err = f.s.Release(ctx, id, 3, "senior"); err != nil || it.State != StateEscalated {
		t.Fatalf("release of an escalated item: %+v %v", it, err)
	}
	if it, err = f.s.Decide(ctx, id, 4, "senior", DecideReject, "loan scam"); err != nil {
		t.Fatal(err)
	}

	// Undo: only by senior, only within the window.
	_, err = f.s.Undo(ctx, id, "alice")
	if !errors.Is(err, ErrNotDecider) || !errors.Is(err, ErrConflict) {
		t.Errorf("undo by someone else: %v", err)
	}
	f.clock.Add(30 * time.Second)
	if it, err = f.s.Undo(ctx, id, "senior"); err != nil {
		t.Fatal(err)
	}
	if it.State != StateEscalated || it.DecidedBy != "alice" || it.Reason != "looks like a real loan scam ring" || it.Version != 6 {
		t.Errorf("undone: %+v", it)
	}
	if _, err := f.s.Undo(ctx, id, "senior"); !errors.Is(err, ErrConflict) {
		t.Errorf("second undo: %v", err)
	}
	// Too late.
	if it, err = f.s.Decide(ctx, id, 6, "senior", DecideApprove, ""); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Minute + time.Second)
	if _, err := f.s.Undo(ctx, id, "senior"); !errors.Is(err, ErrUndoExpired) {
		t.Errorf("undo after the window: %v", err)
	}
	// Undo of a first decision goes back to pending.
	id2 := queued(t, f, "2")
	if _, err := f.s.Decide(ctx, id2, 1, "bob", DecideApprove, ""); err != nil {
		t.Fatal(err)
	}
	if it, err = f.s.Undo(ctx, id2, "bob"); err != nil || it.State != StatePending || it.DecidedBy != "" || !it.DecidedAt.IsZero() {
		t.Errorf("undo to pending: %+v %v", it, err)
	}
	// Undo is refused while someone else holds a claim.
	if it, err = f.s.Decide(ctx, id2, it.Version, "bob", DecideEscalate, ""); err != nil {
		t.Fatal(err)
	}
	if _, err = f.s.Claim(ctx, id2, it.Version, "senior"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Undo(ctx, id2, "bob"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "claimed by senior") {
		t.Errorf("undo under someone's claim: %v", err)
	}
}

func TestNotes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := queued(t, f, "1")
	if _, err := f.s.Claim(ctx, id, 1, "alice"); err != nil {
		t.Fatal(err)
	}
	// Notes need no claim and no version.
	if _, err := f.s.AddNote(ctx, id, "bob", "  same account posted this in three forums  "); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Second)
	it, err := f.s.AddNote(ctx, id, "alice", "contacted the author")
	if err != nil {
		t.Fatal(err)
	}
	want := []Note{{By: "bob", At: f.clock.Now().Add(-time.Second), Text: "same account posted this in three forums"}, {By: "alice", At: f.clock.Now(), Text: "contacted the author"}}
	if len(it.Notes) != 2 || it.Notes[0] != want[0] || it.Notes[1] != want[1] || it.Version != 4 || it.ClaimedBy != "alice" {
		t.Errorf("notes: %+v", it)
	}
	for _, text := range []string{"", "   ", strings.Repeat("x", MaxNoteBytes+1)} {
		if _, err := f.s.AddNote(ctx, id, "bob", text); !errors.Is(err, ErrInvalid) {
			t.Errorf("note of %d bytes: %v", len(text), err)
		}
	}
	if _, err := f.s.AddNote(ctx, 999, "bob", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("note on no item: %v", err)
	}
	if e := lastAudit(t, f); e.Action != "queue.note" || e.Actor != "alice" || !strings.Contains(e.After, `"note":"contacted the author"`) {
		t.Errorf("note audit: %+v", e)
	}
}

func TestBulk(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b, c, d := queued(t, f, "a"), queued(t, f, "b"), queued(t, f, "c"), queued(t, f, "d")
	if _, err := f.s.Claim(ctx, b, 1, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Decide(ctx, c, 1, "alice", DecideReject, "spam"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.AddNote(ctx, d, "bob", "bumps the version"); err != nil {
		t.Fatal(err)
	}
	audits := f.auditCount(t)
	ids := []int64{a, b, c, 999, d, a}
	items, errs := f.s.Bulk(ctx, ids, "alice", DecideReject, "spam wave")
	if len(items) != len(ids) || len(errs) != len(ids) {
		t.Fatalf("%d items, %d errors for %d ids", len(items), len(errs), len(ids))
	}
	want := []error{nil, ErrConflict, ErrConflict, ErrNotFound, nil, ErrConflict}
	for i := range ids {
		if (want[i] == nil) != (errs[i] == nil) || want[i] != nil && !errors.Is(errs[i], want[i]) {
			t.Errorf("id %d: error %v, want %v", ids[i], errs[i], want[i])
		}
		if errs[i] == nil && (items[i].State != StateRejected || items[i].Reason != "spam wave" || items[i].ID != ids[i]) {
			t.Errorf("id %d: %+v", ids[i], items[i])
		}
		if errs[i] != nil && items[i].ID != 0 {
			t.Errorf("id %d failed but has an item", ids[i])
		}
	}
	if it, _ := f.s.Get(ctx, d); it.Version != 3 {
		t.Errorf("item d at version %d: decided at its current version 2, want 3", it.Version)
	}
	if it, _ := f.s.Get(ctx, b); it.State != StateClaimed || it.ClaimedBy != "bob" {
		t.Errorf("bob's item changed: %+v", it)
	}
	if n := f.auditCount(t); n != audits+2 {
		t.Errorf("%d audit entries for 2 bulk decisions", n-audits)
	}
	// Argument errors fail every item.
	_, errs = f.s.Bulk(ctx, []int64{a, d}, "alice", DecideReject, "")
	for _, err := range errs {
		if !errors.Is(err, ErrNeedReason) {
			t.Errorf("bulk reject without reason: %v", err)
		}
	}
	_, errs = f.s.Bulk(ctx, make([]int64, MaxBulk+1), "alice", DecideApprove, "")
	if !errors.Is(errs[MaxBulk], ErrInvalid) {
		t.Errorf("too many ids: %v", errs[MaxBulk])
	}
	items, errs = f.s.Bulk(ctx, nil, "alice", DecideApprove, "")
	if len(items) != 0 || len(errs) != 0 {
		t.Errorf("empty bulk: %v %v", items, errs)
	}
}

func TestListOrderAndFilters(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Created a minute apart: flag (low), hold (high), reject (critical),
	// hold (high) in another forum, hold (medium harassment).
	var ids []int64
	for _, p := range []Post{
		{ID: "low", Forum: "bbs", Body: "flagword"},
		{ID: "high-old", Forum: "bbs", Body: fraudBody},
		{ID: "critical", Forum: "bbs", Body: "rejectword"},
		{ID: "high-new", Forum: "jobs", Body: fraudBody},
		{ID: "medium", Forum: "bbs", Body: "我们去开盒他"},
	} {
		ids = append(ids, f.ingest(t, p)[0].Item)
		f.clock.Add(time.Minute)
	}
	order := func(items []Item) string {
		var s []string
		for _, it := range items {
			s = append(s, it.PostID)
		}
		return strings.Join(s, ",")
	}
	items, total, err := f.s.List(ctx, ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := order(items); got != "critical,high-old,high-new,medium,low" || total != 5 {
		t.Errorf("priority order: %s (total %d)", got, total)
	}
	if items, total, _ = f.s.List(ctx, ListFilter{Limit: 2, Offset: 1}); order(items) != "high-old,high-new" || total != 5 {
		t.Errorf("page 2 of 2: %s (total %d)", order(items), total)
	}
	if items, _, _ = f.s.List(ctx, ListFilter{Forum: "jobs"}); order(items) != "high-new" {
		t.Errorf("forum jobs: %s", order(items))
	}
	if items, _, _ = f.s.List(ctx, ListFilter{Category: "harassment"}); order(items) != "medium" {
		t.Errorf("category harassment: %s", order(items))
	}
	if _, err := f.s.Decide(ctx, ids[2], 1, "alice", DecideApprove, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Claim(ctx, ids[0], 1, "bob"); err != nil {
		t.Fatal(err)
	}
	if items, total, _ = f.s.List(ctx, ListFilter{}); order(items) != "high-old,high-new,medium,low" || total != 4 {
		t.Errorf("open queue after a decision: %s", order(items))
	}
	if items, _, _ = f.s.List(ctx, ListFilter{States: []State{StateApproved, StateClaimed}}); order(items) != "critical,low" {
		t.Errorf("approved or claimed: %s", order(items))
	}
	if items, _, _ = f.s.List(ctx, ListFilter{States: []State{StatePending}}); order(items) != "high-old,high-new,medium" {
		t.Errorf("pending: %s", order(items))
	}
	if _, _, err := f.s.List(ctx, ListFilter{States: []State{"deleted"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown state: %v", err)
	}
	for i := 0; i < 3; i++ {
		queued(t, f, fmt.Sprint("more-", i))
	}
	if items, total, _ = f.s.List(ctx, ListFilter{Limit: 100000}); len(items) != 7 || total != 7 {
		t.Errorf("limit clamps to 500: %d of %d", len(items), total)
	}
	if items, _, _ = f.s.List(ctx, ListFilter{Offset: 100}); len(items) != 0 || items == nil {
		t.Errorf("past the end: %v", items)
	}

	counts, oldest, err := f.s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[State]int{StatePending: 6, StateClaimed: 1, StateEscalated: 0, StateApproved: 1, StateRejected: 0}
	for st, n := range want {
		if counts[st] != n {
			t.Errorf("count %s = %d, want %d (%v)", st, counts[st], n, counts)
		}
	}
	if it, _ := f.s.Get(ctx, ids[0]); !oldest.Equal(it.Created) {
		t.Errorf("oldest open %s, want %s", oldest, it.Created)
	}
}

func TestAuthorHistory(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var items []int64
	for i, body := range []string{cleanBody, fraudBody, "flagword", "rejectword", cleanBody + " again"} {
		r := f.ingest(t, Post{ID: fmt.Sprint(i), Forum: "bbs", Author: "mallory", Body: body})[0]
		if r.Item != 0 {
			items = append(items, r.Item)
		}
		f.clock.Add(time.Minute)
	}
	f.ingest(t, Post{ID: "x", Forum: "other", Author: "mallory", Body: fraudBody})
	f.ingest(t, Post{ID: "y", Forum: "bbs", Author: "alice", Body: fraudBody})
	if _, err := f.s.Decide(ctx, items[0], 1, "mod", DecideReject, "scam"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Decide(ctx, items[1], 1, "mod", DecideApprove, ""); err != nil {
		t.Fatal(err)
	}
	h, err := f.s.AuthorHistory(ctx, "bbs", "mallory")
	if err != nil {
		t.Fatal(err)
	}
	if h.Posts != 5 || h.Flagged != 3 || h.Held != 2 || h.Rejected != 1 || h.Approved != 1 || len(h.Recent) != 3 {
		t.Fatalf("history: %+v", h)
	}
	if h.Recent[0].PostID != "3" || h.Recent[2].PostID != "1" {
		t.Errorf("recent not newest first: %s, %s", h.Recent[0].PostID, h.Recent[2].PostID)
	}
	if h, _ := f.s.AuthorHistory(ctx, "bbs", "nobody"); h.Posts != 0 || h.Recent == nil || len(h.Recent) != 0 {
		t.Errorf("no history: %+v", h)
	}
}

// Every change is in the audit log, in order, with before and after, and
// the chain verifies.
func TestAuditTrail(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := queued(t, f, "1")
	steps := []func() (Item, error){
		func() (Item, error) { return f.s.Claim(ctx, id, 1, "alice") },
		func() (Item, error) { return f.s.Release(ctx, id, 2, "alice") },
		func() (Item, error) { return f.s.AddNote(ctx, id, "alice", "checked") },
		func() (Item, error) { return f.s.Decide(ctx, id, 4, "alice", DecideEscalate, "unsure") },
		func() (Item, error) { return f.s.Decide(ctx, id, 5, "bob", DecideReject, "scam") },
		func() (Item, error) { return f.s.Undo(ctx, id, "bob") },
		func() (Item, error) { return f.s.Decide(ctx, id, 7, "bob", DecideApprove, "not a scam after all") },
	}
	for i, step := range steps {
		if _, err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	f.ingest(t, Post{ID: "1", Forum: "bbs", Author: "author-1", Body: fraudBody + "（已修改）"})
	// Refused calls leave no trace.
	f.s.Claim(ctx, id, 1, "mallory")
	f.s.Decide(ctx, id, 9, "mallory", DecideReject, "")

	es, err := f.db.AuditLog(ctx, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(es) - 1; i >= 0; i-- {
		e := es[i]
		got = append(got, e.Actor+" "+e.Action+" "+e.Reason)
		if e.Object != "post:bbs/1" {
			t.Errorf("entry %d object %q", e.ID, e.Object)
		}
		if strings.Contains(e.Before+e.After, "兼职") {
			t.Errorf("entry %d records the post's content: %s", e.ID, e.After)
		}
	}
	want := []string{
		"token:forum queue.add rules: hold",
		"alice queue.claim ",
		"alice queue.release ",
		"alice queue.note ",
		"alice queue.escalate unsure",
		"bob queue.reject scam",
		"bob queue.undo ",
		"bob queue.approve not a scam after all",
		"token:forum queue.reopen post changed; rules: hold",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if approve := es[1]; !strings.Contains(approve.Before, `"state":"escalated","version":7`) || !strings.Contains(approve.After, `"state":"approved","version":8`) {
		t.Errorf("approve entry before/after: %s → %s", approve.Before, approve.After)
	}
	if n := f.auditCount(t); n != len(want) {
		t.Errorf("VerifyAudit counted %d", n)
	}
}

// Two moderators claim the same item at the same moment, many times over:
// exactly one wins each time. Once within one Service (its writer
// serializes), once with two Services on the same database file (two
// processes: SQLite's locks serialize).
func TestConcurrentClaims(t *testing.T) {
	f := newFixture(t)
	db2, err := state.Open(context.Background(), filepath.Join(filepath.Dir(f.db.Path()), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	s2, err := New(db2, Options{Rules: builtinRules(t), Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		a, b *Service
	}{{"one service", f.s, f.s}, {"two services", f.s, s2}} {
		t.Run(c.name, func(t *testing.T) {
			for round := 0; round < 25; round++ {
				id := queued(t, f, fmt.Sprintf("%s-%d", c.name, round))
				start := make(chan struct{})
				var wg sync.WaitGroup
				errs := make([]error, 4)
				svcs := []*Service{c.a, c.b, c.a, c.b}
				for i := range errs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						_, errs[i] = svcs[i].Claim(context.Background(), id, 1, fmt.Sprint("mod-", i))
					}()
				}
				close(start)
				wg.Wait()
				won := 0
				for _, err := range errs {
					switch {
					case err == nil:
						won++
					case !errors.Is(err, ErrConflict):
						t.Fatalf("round %d: %v", round, err)
					}
				}
				if won != 1 {
					t.Fatalf("round %d: %d claims won (%v)", round, won, errs)
				}
				it, _ := f.s.Get(context.Background(), id)
				if it.Version != 2 || it.State != StateClaimed {
					t.Fatalf("round %d: %+v", round, it)
				}
			}
		})
	}
	f.auditCount(t)
}

// Concurrent ingests of the same posts from many requests: one record
// each, and every answer is the same.
func TestConcurrentIngest(t *testing.T) {
	f := newFixture(t)
	const clients, posts = 8, 40
	results := make([][]Result, clients)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < posts; i++ {
				body := cleanBody
				if i%3 == 0 {
					body = fraudBody
				}
				r, err := f.s.Ingest(context.Background(), []Post{{ID: fmt.Sprint(i), Forum: "bbs", Body: body}}, "token:forum")
				if err != nil {
					t.Error(err)
					return
				}
				results[c] = append(results[c], r[0])
			}
		}()
	}
	wg.Wait()
	for c := 1; c < clients; c++ {
		for i := range results[c] {
			if results[c][i].Item != results[0][i].Item || results[c][i].Verdict != results[0][i].Verdict {
				t.Fatalf("client %d post %d: %+v vs %+v", c, i, results[c][i], results[0][i])
			}
		}
	}
	if n := f.count(t, `SELECT COUNT(*) FROM moderation_posts`); n != posts {
		t.Errorf("%d posts recorded", n)
	}
	if n := f.count(t, `SELECT COUNT(*) FROM moderation_items`); n != (posts+2)/3 {
		t.Errorf("%d items", n)
	}
	if n := f.auditCount(t); n != (posts+2)/3 {
		t.Errorf("%d audit entries", n)
	}
	if f.sink.len() != (posts+2)/3 {
		t.Errorf("%d events", f.sink.len())
	}
}
