package daemon

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
)

// Random histories through the real path (stored messages, threading, the
// planner's transactions, the database's triggers), with the planner
// ticking at random times between events. Package rules checks 10,000
// histories of the pure decision; this checks that what the planner writes
// keeps the promises: every transition legal, at most one follow-up, and
// nothing proposed after a reply, a permanent bounce or a block, or while
// paused. OUTREACH_RANDOM_THREADS raises the count (default 40).
func TestPlannerRandomHistories(t *testing.T) {
	t.Parallel()
	n := 40
	if v, err := strconv.Atoi(os.Getenv("OUTREACH_RANDOM_THREADS")); err == nil && v > 0 {
		n = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("OUTREACH_RANDOM_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (set OUTREACH_RANDOM_SEED to replay)", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	var contacts []string
	for i := range n {
		contacts = append(contacts, fmt.Sprintf("prof%d@med.example.edu", i))
	}
	w := newWorld(t, contacts...)
	ctx := context.Background()
	for i, c := range contacts {
		w.send(monday.Add(time.Duration(rng.IntN(72))*time.Hour), c, fmt.Sprintf("orig%d@example.org", i), "Research opportunity")
	}
	now := monday.Add(72 * time.Hour)
	for step := 0; step < 60; step++ {
		now = now.Add(time.Duration(1+rng.IntN(40)) * time.Hour)
		for i, c := range contacts {
			if rng.IntN(6) != 0 {
				continue
			}
			w.randomEvent(rng, now, i, c)
		}
		w.clock.Set(now)
		sum, err := w.planner.Tick(ctx, now)
		if err != nil || sum.Errors > 0 {
			t.Fatalf("step %d (seed %d): tick: %+v %v", step, seed, sum, err)
		}
	}
	checkPromises(t, w.st, seed)
}

// randomEvent makes one thing happen in contact i's conversation.
func (w *world) randomEvent(rng *rand.Rand, now time.Time, i int, contact string) {
	ctx := context.Background()
	orig := fmt.Sprintf("orig%d@example.org", i)
	id := fmt.Sprintf("r%d-%d@med.example.edu", i, now.Unix())
	switch rng.IntN(12) {
	case 0:
		w.receive(now, contact, id, outreach.MessageHuman, `{"kind":"human","confidence":"certain"}`, orig)
	case 1:
		w.receive(now, contact, id, outreach.MessageHuman, `{"kind":"human","confidence":"unsure"}`, orig)
	case 2:
		ret := now.AddDate(0, 0, 1+rng.IntN(20)).Format(time.DateOnly)
		w.receive(now, contact, id, outreach.MessageAutoReply,
			`{"kind":"auto_reply","reason":"vacation","return_date":"`+ret+`","confidence":"certain"}`, orig)
	case 3:
		w.receive(now, "mailer-daemon@med.example.edu", id, outreach.MessageBounce,
			fmt.Sprintf(`{"kind":"bounce","reason":"user_unknown","permanent":%v,"failed_recipients":["%s"],"confidence":"certain"}`,
				rng.IntN(2) == 0, contact), orig)
	case 4:
		w.receive(now, contact, id, outreach.MessageList, `{"kind":"list","confidence":"certain"}`)
	case 5:
		w.send(now, contact, fmt.Sprintf("hand%d-%d@example.org", i, now.Unix()), "Re: Research opportunity", orig)
	case 6, 7:
		w.clock.Set(now)
		w.approveAndMaybeSend(ctx, rng, i, now)
	case 8:
		w.clock.Set(now)
		if rng.IntN(4) == 0 {
			if _, err := w.st.BlockContact(ctx, contact, "random"); err != nil {
				w.t.Fatal(err)
			}
		}
	default:
		w.clock.Set(now)
		actions := []store.UserAction{store.ActionPause, store.ActionResume, store.ActionClose, store.ActionReopen}
		var until *time.Time
		if rng.IntN(2) == 0 {
			u := now.AddDate(0, 0, 1+rng.IntN(10))
			until = &u
		}
		th := w.thread(contact)
		if err := w.st.RecordUserAction(ctx, th.ID, actions[rng.IntN(len(actions))], until, ""); err != nil {
			w.t.Fatal(err)
		}
	}
}

// approveAndMaybeSend approves the thread's proposed draft, and sends it
// half of the time (with its copy in Sent).
func (w *world) approveAndMaybeSend(ctx context.Context, rng *rand.Rand, i int, now time.Time) {
	var d struct {
		ID        int64  `db:"id"`
		Version   int    `db:"version"`
		MessageID string `db:"message_id"`
		To        string `db:"to_addr"`
	}
	err := w.st.DB().Get(&d, `SELECT d.id, d.version, d.message_id, d.to_addr FROM drafts d JOIN threads t ON t.id = d.thread_id
		JOIN contact_addresses a ON a.contact_id = t.contact_id
		WHERE a.address = $1 AND d.state = 'proposed'`, fmt.Sprintf("prof%d@med.example.edu", i))
	if err != nil {
		return // no draft waiting
	}
	switch rng.IntN(6) {
	case 0:
		if _, err := w.st.EditDraft(ctx, d.ID, d.Version, store.DraftEdit{Body: "Edited at " + now.String()}); err != nil {
			w.t.Fatal(err)
		}
		return
	case 1, 2:
		action := store.ReviewReject
		if rng.IntN(2) == 0 {
			action = store.ReviewRedraft
		}
		if _, err := w.planner.Review(ctx, d.ID, action, 0, "", now); err != nil {
			w.t.Fatal(err)
		}
		return
	}
	rev, err := w.planner.Review(ctx, d.ID, store.ReviewApprove, d.Version, "", now)
	if err != nil {
		w.t.Fatal(err)
	}
	if rev.Refused != "" || rng.IntN(2) == 0 {
		return
	}
	// The mailer re-plans right before sending (issue: send), then sends.
	if err := w.st.BeginSending(ctx, d.ID); err != nil {
		w.t.Fatal(err)
	}
	if err := w.st.MarkSent(ctx, d.ID, "250 OK"); err != nil {
		w.t.Fatal(err)
	}
	w.send(now, d.To, d.MessageID, "Re: Research opportunity", fmt.Sprintf("orig%d@example.org", i))
}

// checkPromises reads the database after a random run.
func checkPromises(t *testing.T, st *store.Store, seed uint64) {
	t.Helper()
	checks := []struct{ what, sql string }{
		{"a thread with more than one follow-up sent",
			`SELECT thread_id FROM drafts WHERE state IN ('sending', 'sent') GROUP BY thread_id HAVING count(*) > 1`},
		{"a draft proposed after a certain human reply",
			`SELECT d.id FROM drafts d JOIN messages m ON m.thread_id = d.thread_id
			 WHERE m.kind = 'human' AND m.classification->>'confidence' = 'certain' AND m.sent_date < d.created_at`},
		{"a draft proposed after a permanent bounce",
			`SELECT d.id FROM drafts d JOIN messages m ON m.thread_id = d.thread_id
			 WHERE m.kind = 'bounce' AND (m.classification->>'permanent')::boolean AND m.sent_date < d.created_at`},
		{"a draft proposed after the contact was blocked",
			`SELECT d.id FROM drafts d JOIN threads t ON t.id = d.thread_id JOIN contacts c ON c.id = t.contact_id
			 WHERE c.blocked_at < d.created_at`},
		{"a draft proposed while the thread was paused",
			`SELECT e.id FROM events e WHERE e.type = 'draft_proposed' AND EXISTS (
			   SELECT 1 FROM events p WHERE p.thread_id = e.thread_id AND p.type = 'state_changed' AND p.id < e.id
			     AND p.to_state = 'paused' AND NOT EXISTS (
			       SELECT 1 FROM events q WHERE q.thread_id = e.thread_id AND q.type = 'state_changed'
			         AND q.id > p.id AND q.id < e.id AND q.from_state = 'paused'))`},
		{"a draft still live in a thread that is not waiting for it",
			`SELECT d.id FROM drafts d JOIN threads t ON t.id = d.thread_id
			 WHERE d.state IN ('proposed', 'approved') AND t.state <> 'draft_proposed'`},
		{"a follow-up counted twice", `SELECT id FROM threads WHERE followups_sent > 1`},
	}
	for _, c := range checks {
		var ids []int64
		if err := st.DB().Select(&ids, c.sql); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if len(ids) > 0 {
			t.Errorf("seed %d: %s: %v", seed, c.what, ids)
		}
	}
	var proposed int
	if err := st.DB().Get(&proposed, `SELECT count(*) FROM drafts`); err != nil || proposed == 0 {
		t.Errorf("seed %d: %d drafts in the whole run (%v): the histories never reached a follow-up", seed, proposed, err)
	}
}
