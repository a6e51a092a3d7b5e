package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
)

// threadsView is the list of conversations, filtered.
type threadsView struct {
	State  string
	Query  string
	States []stateOption
	Rows   []threadRow
}

type stateOption struct {
	Value, Label string
	Selected     bool
}

// threadRow is a thread with its contact's card details.
type threadRow struct {
	store.ThreadListing
	Institution string
}

func (s *Server) threads(w http.ResponseWriter, r *http.Request, sess *session) error {
	q := r.URL.Query()
	v := threadsView{State: q.Get("state"), Query: strings.TrimSpace(q.Get("q"))}
	if v.State != "" && !outreach.ThreadState(v.State).Valid() {
		return outreach.Errorf(outreach.KindInvalid, "%q is not a thread state", v.State)
	}
	v.States = append(v.States, stateOption{Value: "", Label: "Any state", Selected: v.State == ""})
	for _, st := range outreach.ThreadStates {
		v.States = append(v.States, stateOption{Value: string(st), Label: threadStateLabel(st), Selected: v.State == string(st)})
	}
	rows, err := s.threadRows(r.Context(), outreach.ThreadState(v.State), v.Query)
	if err != nil {
		return err
	}
	v.Rows = rows
	s.render(w, r, sess, http.StatusOK, "threads", "Threads", v)
	return nil
}

// threadRows joins threads with the contacts the search finds (by name,
// institution or address): two indexed reads, no new SQL for a filter.
func (s *Server) threadRows(ctx context.Context, state outreach.ThreadState, query string) ([]threadRow, error) {
	threads, err := s.cfg.Store.Threads(ctx, store.ThreadFilter{State: state})
	if err != nil {
		return nil, err
	}
	contacts, err := s.cfg.Store.Contacts(ctx, store.ContactFilter{Search: query})
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]outreach.Contact, len(contacts))
	for _, c := range contacts {
		byID[c.ID] = c
	}
	rows := []threadRow{}
	for _, t := range threads {
		c, ok := byID[t.ContactID]
		if !ok {
			continue
		}
		rows = append(rows, threadRow{ThreadListing: t, Institution: c.Institution})
	}
	// Newest conversations first: the one you wrote last week matters more
	// than the order of next actions the CLI's agenda uses.
	slices.SortStableFunc(rows, func(a, b threadRow) int { return laterFirst(a.InitialSentAt, b.InitialSentAt) })
	return rows, nil
}

func laterFirst(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return b.Compare(*a)
}

// threadView is one conversation and its whole history.
type threadView struct {
	Thread   store.ThreadListing
	Account  string
	Contact  outreach.Contact
	Drafts   []store.DraftView
	Timeline []timelineItem
	Actions  []threadAction
}

// threadAction is a button on the thread page, and what it does.
type threadAction struct {
	Name, Label, Explain string
	Until                bool // asks for an end date
}

func (s *Server) thread(w http.ResponseWriter, r *http.Request, sess *session) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	info, err := s.cfg.Store.Thread(ctx, id)
	if err != nil {
		return err
	}
	v := threadView{Account: info.Account}
	if v.Thread, err = s.threadListing(ctx, info); err != nil {
		return err
	}
	if v.Contact, err = s.cfg.Store.ContactByID(ctx, info.ContactID); err != nil {
		return err
	}
	if v.Drafts, err = s.cfg.Store.Drafts(ctx, store.DraftFilter{ThreadID: id}); err != nil {
		return err
	}
	if v.Timeline, err = s.timeline(ctx, id); err != nil {
		return err
	}
	v.Actions = threadActions(v.Thread.State)
	title := "Thread with " + nameOr(v.Thread.ContactName, v.Thread.Contact)
	s.render(w, r, sess, http.StatusOK, "thread", title, v)
	return nil
}

func (s *Server) threadListing(ctx context.Context, info store.ThreadInfo) (store.ThreadListing, error) {
	threads, err := s.cfg.Store.Threads(ctx, store.ThreadFilter{ContactID: info.ContactID})
	if err != nil {
		return store.ThreadListing{}, err
	}
	for _, t := range threads {
		if t.ID == info.ID {
			return t, nil
		}
	}
	return store.ThreadListing{}, outreach.Errorf(outreach.KindNotFound, "thread %d", info.ID)
}

// threadActions are the applicant's own decisions that make sense now.
func threadActions(st outreach.ThreadState) []threadAction {
	var out []threadAction
	switch st {
	case outreach.ThreadAwaitingReply, outreach.ThreadFollowUpDue, outreach.ThreadDraftProposed, outreach.ThreadFollowedUp:
		out = append(out, threadAction{Name: "pause", Label: "Pause", Until: true,
			Explain: "Nothing is proposed until the date you give, or until you resume it."})
	case outreach.ThreadPaused, outreach.ThreadNeedsReview:
		out = append(out, threadAction{Name: "resume", Label: "Resume",
			Explain: "The thread goes on as if nothing had happened; the follow-up policy decides what is next."})
	}
	switch st {
	case outreach.ThreadClosedByUser:
		out = append(out, threadAction{Name: "reopen", Label: "Reopen",
			Explain: "The thread waits for your review, then goes on."})
	case outreach.ThreadBlocked:
	default:
		out = append(out, threadAction{Name: "close", Label: "Close the thread",
			Explain: "Nothing more is proposed to this person in this thread; a waiting draft is withdrawn."})
	}
	return out
}

var userActions = map[string]store.UserAction{"pause": store.ActionPause, "resume": store.ActionResume,
	"close": store.ActionClose, "reopen": store.ActionReopen}

func (s *Server) threadAction(w http.ResponseWriter, r *http.Request, sess *session) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	action, ok := userActions[r.PathValue("action")]
	if !ok {
		return outreach.Errorf(outreach.KindNotFound, "no action %q", r.PathValue("action"))
	}
	var until *time.Time
	if d := strings.TrimSpace(r.PostFormValue("until")); d != "" {
		t, err := time.ParseInLocation(time.DateOnly, d, s.cfg.Location)
		if err != nil {
			return outreach.Errorf(outreach.KindInvalid, "%q is not a date such as 2026-12-01", d)
		}
		until = &t
	}
	ctx := r.Context()
	if err := s.cfg.Store.RecordUserAction(ctx, id, action, until, strings.TrimSpace(r.PostFormValue("note"))); err != nil {
		return err
	}
	// Decided again at once, as `outreach threads` does, so the page shows
	// where the thread stands now.
	if _, err := s.cfg.Planner.PlanThread(ctx, id, s.cfg.Now()); err != nil {
		return err
	}
	st, err := s.cfg.Store.ThreadState(ctx, id)
	if err != nil {
		return err
	}
	return redirect(w, r, threadLink(id), "ok", fmt.Sprintf("Done. The thread is now: %s.", threadStateLabel(st)))
}
