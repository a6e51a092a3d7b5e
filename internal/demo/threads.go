package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
)

// Thread is where one seeded conversation stands, read from the store.
type Thread struct {
	Faculty
	ID    int64
	State outreach.ThreadState // "" until the sync has seen the first email
	// Decided: the planner has decided the thread at least once.
	Decided      bool
	NextAction   string
	NextActionAt *time.Time
	PausedUntil  *time.Time
	Evidence     string
	// Draft is the thread's newest follow-up draft, if any.
	Draft *store.DraftView
}

// Threads reports every seeded conversation, in the story's order.
func (d *Demo) Threads(ctx context.Context) ([]Thread, error) {
	return Threads(ctx, d.st, d.Story.Faculty)
}

// Threads reads from st where each faculty member's conversation stands.
func Threads(ctx context.Context, st *store.Store, faculty []Faculty) ([]Thread, error) {
	rows, err := st.Threads(ctx, store.ThreadFilter{})
	if err != nil {
		return nil, err
	}
	drafts, err := st.Drafts(ctx, store.DraftFilter{})
	if err != nil {
		return nil, err
	}
	newest := map[int64]store.DraftView{}
	for _, dv := range drafts { // oldest first: the last one wins
		newest[dv.ThreadID] = dv
	}
	byContact := map[string]store.ThreadListing{}
	for _, r := range rows {
		if old, ok := byContact[r.Contact]; !ok || r.ID > old.ID {
			byContact[r.Contact] = r
		}
	}
	out := make([]Thread, len(faculty))
	for i, f := range faculty {
		out[i].Faculty = f
		r, ok := byContact[f.Email]
		if !ok {
			continue
		}
		out[i].ID, out[i].State, out[i].Decided = r.ID, r.State, r.DecisionRule != ""
		out[i].NextAction, out[i].NextActionAt, out[i].Evidence = r.NextAction, r.NextActionAt, r.DecisionEvidence
		out[i].PausedUntil = r.PausedUntil
		if dv, ok := newest[r.ID]; ok {
			out[i].Draft = &dv
		}
	}
	return out, nil
}

// AsExpected reports whether the planner has decided the thread and put
// it where the story says.
func (t Thread) AsExpected() bool { return t.Decided && t.State == t.Expect }

// WaitSettled waits, reading the store every poll, until the planner has
// put every seeded thread where the story says, and returns them; when ctx
// ends first, it returns what it has with an error naming the others.
func (d *Demo) WaitSettled(ctx context.Context, poll time.Duration) ([]Thread, error) {
	return WaitSettled(ctx, d.st, d.Story.Faculty, poll)
}

// WaitSettled is Demo.WaitSettled on any store.
func WaitSettled(ctx context.Context, st *store.Store, faculty []Faculty, poll time.Duration) ([]Thread, error) {
	for {
		ts, err := Threads(ctx, st, faculty)
		if err == nil && unsettled(ts) == nil {
			return ts, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("not as the story says: %s: %w", strings.Join(unsettled(ts), "; "), ctx.Err())
			}
			return ts, err
		case <-time.After(poll):
		}
	}
}

func unsettled(ts []Thread) []string {
	var out []string
	for _, t := range ts {
		if !t.AsExpected() {
			out = append(out, fmt.Sprintf("%s is %q (decided %v), want %s", t.Name, t.State, t.Decided, t.Expect))
		}
	}
	return out
}
