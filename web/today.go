package web

import (
	"context"
	"net/http"
	"slices"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/rules"
	"github.com/outreach/outreach/store"
)

// todayView is the daily page: what waits for the applicant, who replied,
// and whatever is wrong.
type todayView struct {
	Waiting  []waitingDraft    // proposed: approve, edit or reject
	OnTheWay []store.DraftView // approved, sending, being retried
	Trouble  []store.DraftView // failed, or may have been sent
	Replies  []store.Reply
	// Since is when the previous visit ended; nil on the first visit,
	// when Replies covers the last firstVisitDays days.
	Since          *time.Time
	FirstVisitDays int
	Review         []store.ThreadListing
	Warnings       []warning
	Accounts       []store.AccountStatus
}

// waitingDraft is a draft waiting for approval with its thread's dates.
type waitingDraft struct {
	store.DraftView
	FirstEmail *time.Time // the email it follows up
	ExpiresAt  *time.Time // when the thread closes without it
}

// warning is one thing the applicant should know, with where to act on it.
type warning struct {
	Text, Link, LinkText string
}

const firstVisitDays = 7

func (s *Server) today(w http.ResponseWriter, r *http.Request, sess *session) error {
	ctx := r.Context()
	v := todayView{Since: sess.Since, FirstVisitDays: firstVisitDays}
	threads, err := s.cfg.Store.Threads(ctx, store.ThreadFilter{})
	if err != nil {
		return err
	}
	if err := s.todayDrafts(ctx, &v, threads); err != nil {
		return err
	}
	since := s.cfg.Now().AddDate(0, 0, -firstVisitDays)
	if sess.Since != nil {
		since = *sess.Since
	}
	if v.Replies, err = s.cfg.Store.RepliesSince(ctx, since, 50); err != nil {
		return err
	}
	if err := s.todayThreads(ctx, &v, threads); err != nil {
		return err
	}
	if v.Accounts, err = s.cfg.Store.Status(ctx); err != nil {
		return err
	}
	s.render(w, r, sess, http.StatusOK, "today", "Today", v)
	return nil
}

func (s *Server) todayDrafts(ctx context.Context, v *todayView, threads []store.ThreadListing) error {
	drafts, err := s.cfg.Store.Drafts(ctx, store.DraftFilter{States: store.AttentionDraftStates})
	if err != nil {
		return err
	}
	byID := make(map[int64]store.ThreadListing, len(threads))
	for _, t := range threads {
		byID[t.ID] = t
	}
	for _, d := range drafts {
		switch d.State {
		case outreach.DraftProposed:
			w := waitingDraft{DraftView: d}
			if t, ok := byID[d.ThreadID]; ok {
				w.FirstEmail = t.InitialSentAt
				if t.NextAction == rules.ActionExpireDraft {
					w.ExpiresAt = t.NextActionAt
				}
			}
			v.Waiting = append(v.Waiting, w)
		case outreach.DraftFailed, outreach.DraftReview:
			v.Trouble = append(v.Trouble, d)
		default:
			v.OnTheWay = append(v.OnTheWay, d)
		}
	}
	return nil
}

// todayThreads finds threads that need review and the warnings: the
// planner's (writing to someone a third time), drafts that could not be
// written, and addresses that bounced.
func (s *Server) todayThreads(ctx context.Context, v *todayView, threads []store.ThreadListing) error {
	for _, t := range threads {
		link, who := threadLink(t.ID), nameOr(t.ContactName, t.Contact)
		switch {
		case t.State == outreach.ThreadNeedsReview:
			v.Review = append(v.Review, t)
		case t.DecisionRule == "draft_not_written":
			v.Warnings = append(v.Warnings, warning{Text: "No follow-up could be written for " + who + ": " +
				t.DecisionEvidence, Link: link, LinkText: "Open the thread"})
		}
		if t.Warning != "" && !closedState(t.State) {
			v.Warnings = append(v.Warnings, warning{Text: who + ": " + t.Warning, Link: link, LinkText: "Open the thread"})
		}
	}
	bad, err := s.cfg.Store.UndeliverableAddresses(ctx)
	if err != nil {
		return err
	}
	for _, a := range bad {
		text := a.Address + " (" + nameOr(a.ContactName, a.Address) + ") bounced"
		if a.Reason != "" {
			text += ": " + a.Reason
		}
		v.Warnings = append(v.Warnings, warning{Text: text, Link: contactLink(a.ContactID), LinkText: "Edit the contact"})
	}
	return nil
}

// closedState: nothing more happens in the thread, so its warning is moot.
func closedState(st outreach.ThreadState) bool {
	return slices.Contains([]outreach.ThreadState{outreach.ThreadClosedByUser, outreach.ThreadClosedNoResponse,
		outreach.ThreadBlocked, outreach.ThreadReplied, outreach.ThreadBounced}, st)
}

func nameOr(name, fallback string) string {
	if name != "" {
		return name
	}
	return fallback
}
