package daemon

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"log/slog"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/rules"
	"github.com/outreach/outreach/store"
)

// Composer writes the follow-up draft for a thread (package templates does,
// through the daemon's wiring). The planner sets the thread and our own
// Message-ID; a Composer error is a mistake the applicant must fix (a
// template, a contact field), recorded on the thread and retried later.
type Composer func(in store.PlanInput) (store.NewDraft, error)

// Planner applies the follow-up policy (package rules) to due threads. It
// keeps no state of its own: what is due is in the database (an indexed
// next-action time), each thread is decided and written in one
// transaction under its row lock, and several planners may run at once.
type Planner struct {
	Store   *store.Store
	Policy  outreach.Policy
	Compose Composer
	Log     *slog.Logger
	// Batch is how many due threads are read at a time [200].
	Batch int
	// RetryDraft is how long after a failed draft the planner tries again [1h].
	RetryDraft time.Duration
}

// TickSummary is what one planning pass did.
type TickSummary struct {
	Planned    int      `json:"planned"`
	Changed    []Change `json:"changed"`
	Proposed   int      `json:"drafts_proposed"`
	Superseded int      `json:"drafts_superseded"`
	Expired    int      `json:"drafts_expired"`
	Skipped    int      `json:"skipped"` // held by another planner, or no longer due
	Errors     int      `json:"errors"`
	// DraftErrors are follow-ups that could not be written (a template
	// mistake, an empty contact field): the applicant must fix them.
	DraftErrors []DraftError `json:"draft_errors,omitempty"`
}

// DraftError is a follow-up the planner could not write.
type DraftError struct {
	Thread int64  `json:"thread"`
	Error  string `json:"error"`
}

// Change is one thread that moved.
type Change struct {
	Thread  int64                `json:"thread"`
	From    outreach.ThreadState `json:"from"`
	To      outreach.ThreadState `json:"to"`
	DraftID int64                `json:"draft_id,omitempty"`
}

// Tick plans every thread due at now, then returns. Threads that fall due
// while it runs wait for the next tick; each thread is planned at most once.
func (p *Planner) Tick(ctx context.Context, now time.Time) (TickSummary, error) {
	var sum TickSummary
	seen := map[int64]bool{}
	batch := p.Batch
	if batch <= 0 {
		batch = 200
	}
	for {
		// Threads planned in this tick may still be due (a next action at
		// now): ask for enough rows to see past them.
		limit := batch + len(seen)
		ids, err := p.Store.DueThreads(ctx, now, limit)
		if err != nil {
			return sum, err
		}
		fresh := 0
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			fresh++
			if err := p.planOne(ctx, id, now, false, &sum); err != nil {
				if outreach.IsKind(err, outreach.KindUnavailable) || ctx.Err() != nil {
					return sum, err
				}
				// One thread the database refuses must not stop the others.
				sum.Errors++
				p.logger().Error("thread not planned; it stays due", "thread", id, "err", err)
			}
		}
		if fresh == 0 || len(ids) < limit {
			return sum, nil
		}
	}
}

// PlanThread decides one thread at now whether or not it is due (after an
// action of the applicant's, or before a send).
func (p *Planner) PlanThread(ctx context.Context, id int64, now time.Time) (TickSummary, error) {
	var sum TickSummary
	return sum, p.planOne(ctx, id, now, true, &sum)
}

func (p *Planner) planOne(ctx context.Context, id int64, now time.Time, force bool, sum *TickSummary) error {
	var out store.PlanOutcome
	res, err := p.Store.PlanThread(ctx, id, now, force, func(in store.PlanInput) (store.PlanOutcome, error) {
		out = p.decide(in)
		return out, nil
	})
	if err != nil {
		return err
	}
	if res.Planned && out.DraftError != "" {
		sum.DraftErrors = append(sum.DraftErrors, DraftError{Thread: id, Error: out.DraftError})
		p.logger().Warn("follow-up draft not written: fix it, the planner tries again", "thread", id, "err", out.DraftError)
	}
	if !res.Planned {
		sum.Skipped++
		return nil
	}
	sum.Planned++
	sum.Superseded += res.Superseded
	sum.Expired += res.Expired
	if res.DraftID != 0 {
		sum.Proposed++
	}
	if res.From != res.To || res.DraftID != 0 {
		sum.Changed = append(sum.Changed, Change{Thread: id, From: res.From, To: res.To, DraftID: res.DraftID})
		p.logger().Info("thread decided", "thread", id, "from", res.From, "to", res.To, "draft", res.DraftID)
	}
	return nil
}

// decide is the planner's whole judgement, pure but for the Composer and
// the random Message-ID: rules.Decide on the thread's history, then the
// draft, then Decide again with the draft in the history, so the stored
// next action is the one that follows the proposal.
func (p *Planner) decide(in store.PlanInput) store.PlanOutcome {
	now := in.Now
	t := ruleThread(in, p.Policy)
	d := rules.Decide(t, now)
	out := store.PlanOutcome{}
	expiring := d.State == outreach.ThreadClosedNoResponse && d.ClosedReason == rules.ClosedDraftExpiry
	if d.CancelDrafts {
		// An expiring draft is marked expired; any other outstanding one
		// (approved after the expiry, before this pass) is superseded.
		out.Expire, out.Supersede = expiring, true
		kind := rules.HistoryDraftSuperseded
		if expiring {
			kind = rules.HistoryDraftExpired
		}
		t.History = append(t.History, rules.HistoryItem{At: now, Kind: kind})
	}
	if d.ProposeDraft {
		draft, err := p.compose(in)
		if err != nil {
			out.DraftError = err.Error()
			d.Rule = "draft_not_written"
			d.Evidence = "the follow-up draft could not be written: " + err.Error()
			retry := now.Add(p.retryDraft())
			d.NextAction, d.NextActionAt = rules.ActionProposeFollowUp, &retry
		} else {
			out.Draft = &draft
			t.History = append(t.History, rules.HistoryItem{At: now, Kind: rules.HistoryDraftProposed})
			d = rules.Decide(t, now)
		}
	} else if d.CancelDrafts {
		d = rules.Decide(t, now)
	}
	out.Path = transitionPath(in.Thread.State, d.State, d.FollowUpsSent)
	out.FollowUpsSent, out.PausedUntil, out.ClosedReason = d.FollowUpsSent, d.PausedUntil, d.ClosedReason
	out.NextAction, out.NextActionAt = d.NextAction, d.NextActionAt
	out.Rule, out.Evidence = d.Rule, d.Evidence
	if len(d.Warnings) > 0 {
		out.Warning = strings.Join(d.Warnings, "; ")
	}
	if d.State == outreach.ThreadBounced && in.Thread.State != outreach.ThreadBounced {
		out.Undeliverable = undeliverable(in)
	}
	return out
}

func (p *Planner) compose(in store.PlanInput) (store.NewDraft, error) {
	if p.Compose == nil {
		return store.NewDraft{}, fmt.Errorf("no draft composer configured")
	}
	d, err := p.Compose(in)
	if err != nil {
		return d, err
	}
	d.ThreadID = in.Thread.ID
	if d.MessageID == "" {
		d.MessageID = NewMessageID(in.Account.Email)
	}
	return d, nil
}

func (p *Planner) retryDraft() time.Duration {
	if p.RetryDraft > 0 {
		return p.RetryDraft
	}
	return time.Hour
}

func (p *Planner) logger() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

// NewMessageID makes a globally unique Message-ID (RFC 5322 section
// 3.6.4) in the sender's domain, without angle brackets.
func NewMessageID(from string) string {
	domain := "outreach.invalid"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i < len(from)-1 {
		domain = from[i+1:]
	}
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return "outreach." + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])) + "@" + domain
}

// transitionPath is the shortest chain of legal transitions from one state
// to another, used when the planner catches up after downtime and the
// thread moved more than one step (paused, then followed up by hand, then
// closed). Only waiting states serve as steps on the way, and followed_up
// only when the follow-up went out; nil when the state stays.
func transitionPath(from, to outreach.ThreadState, followUps int) []outreach.ThreadState {
	if from == to {
		return nil
	}
	// A thread whose follow-up went out closes from followed_up, never by
	// the edges of a follow-up too late to propose.
	legal := func(a, b outreach.ThreadState) bool {
		tooLate := b == outreach.ThreadClosedNoResponse && (a == outreach.ThreadAwaitingReply || a == outreach.ThreadFollowUpDue)
		return a.CanTransition(b) && !(tooLate && followUps > 0)
	}
	if legal(from, to) {
		return []outreach.ThreadState{to}
	}
	via := map[outreach.ThreadState]bool{outreach.ThreadAwaitingReply: true, outreach.ThreadFollowUpDue: true,
		outreach.ThreadNeedsReview: true, outreach.ThreadFollowedUp: followUps > 0}
	prev := map[outreach.ThreadState]outreach.ThreadState{from: from}
	queue := []outreach.ThreadState{from}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, n := range outreach.ThreadTransitions[s] {
			if _, seen := prev[n]; seen || !legal(s, n) {
				continue
			}
			prev[n] = s
			if n == to {
				var path []outreach.ThreadState
				for x := to; x != from; x = prev[x] {
					path = append([]outreach.ThreadState{x}, path...)
				}
				return path
			}
			if via[n] {
				queue = append(queue, n)
			}
		}
	}
	// No legal way: let the database refuse it loudly rather than guess.
	return []outreach.ThreadState{to}
}

// Review carries out the applicant's verdict on a draft (approve, reject,
// redraft), deciding its thread again in the same transaction: an approval
// is refused when the thread no longer waits for this draft (a reply since,
// a block, a pause, an expiry), and a rejection closes the thread or
// proposes a fresh draft.
func (p *Planner) Review(ctx context.Context, draftID int64, action store.ReviewAction, version int, note string,
	now time.Time) (store.Review, error) {
	return p.Store.ReviewDraft(ctx, draftID, action, version, note, now, func(in store.PlanInput) (store.PlanOutcome, error) {
		return p.decide(in), nil
	})
}

// Run plans until ctx ends: a pass at start, then whenever kick receives
// (new mail was threaded, the applicant acted) and at least every interval
// [1m]. A failed pass is logged and retried at the next turn; the planner
// never stops on one.
func (p *Planner) Run(ctx context.Context, interval time.Duration, kick <-chan struct{}, clock func() time.Time) error {
	if interval <= 0 {
		interval = time.Minute
	}
	if clock == nil {
		clock = time.Now
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		// Synced mail is threaded first, so the pass sees it.
		if _, err := AttachPending(ctx, p.Store); err != nil && ctx.Err() == nil {
			p.logger().Error("threading new mail failed; trying again", "err", err, "in", interval)
		}
		sum, err := p.Tick(ctx, clock())
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			p.logger().Error("planning pass failed; trying again", "err", err, "in", interval)
		case sum.Planned > 0:
			p.logger().Info("planned", "threads", sum.Planned, "drafts_proposed", sum.Proposed,
				"drafts_withdrawn", sum.Superseded, "drafts_expired", sum.Expired)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-kick:
		}
	}
}
