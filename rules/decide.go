package rules

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
)

// HistoryKind is what one item of a thread's history records.
type HistoryKind string

// The history kinds. Outbound mail is "seen in Sent" whatever client sent
// it; draft events mirror the draft's lifecycle (docs/states.md).
const (
	HistoryInitialSent     HistoryKind = "initial_sent"     // the first email to the contact
	HistoryTouchOut        HistoryKind = "touch_out"        // the applicant wrote to the contact by hand
	HistoryFollowUpSent    HistoryKind = "followup_sent"    // the mailer sent an approved follow-up
	HistoryInbound         HistoryKind = "inbound"          // a message from the contact's side, classified
	HistoryDraftProposed   HistoryKind = "draft_proposed"   // the planner proposed a follow-up draft, at the now that asked for it
	HistoryDraftApproved   HistoryKind = "draft_approved"   // the applicant approved it
	HistoryDraftRejected   HistoryKind = "draft_rejected"   // the applicant said no: no follow-up
	HistoryDraftRedraft    HistoryKind = "draft_redraft"    // rejected, and a fresh draft wanted
	HistoryDraftExpired    HistoryKind = "draft_expired"    // nobody approved it in time
	HistoryDraftSuperseded HistoryKind = "draft_superseded" // the planner superseded it after CancelDrafts
	HistoryUserPause       HistoryKind = "user_pause"       // the applicant paused the thread (Until, or indefinitely)
	HistoryUserResume      HistoryKind = "user_resume"      // the applicant resumed it, or settled a review
	HistoryUserClose       HistoryKind = "user_close"       // the applicant closed it
	HistoryUserReopen      HistoryKind = "user_reopen"      // the applicant undid a close
	HistoryBlocked         HistoryKind = "blocked"          // the contact went on the do-not-contact list
	// HistorySendTrouble: the approved follow-up failed for good (Reason
	// "failed", a 5xx) or may have gone out unseen (Reason "review", a crash
	// or a lost answer to DATA). The applicant decides: needs_review.
	HistorySendTrouble HistoryKind = "send_trouble"
)

// historyRank orders items that share a timestamp, so that the order in
// which History is given never matters: our own mail first, then drafts,
// what arrived, the applicant's commands, and a proposal last: the planner
// proposes a draft as the consequence of everything up to that instant
// (such as a resume), and the replay must see it that way.
var historyRank = map[HistoryKind]int{
	HistoryInitialSent: 0, HistoryTouchOut: 1, HistoryFollowUpSent: 2,
	HistoryDraftApproved: 4, HistoryDraftRejected: 5, HistoryDraftRedraft: 6, HistoryDraftExpired: 7,
	HistoryDraftSuperseded: 8, HistoryInbound: 9, HistoryUserPause: 10, HistoryUserClose: 11,
	HistoryUserReopen: 12, HistoryUserResume: 13, HistoryBlocked: 14, HistoryDraftProposed: 15,
	HistorySendTrouble: 16,
}

// HistoryItem is one event in a thread's life.
type HistoryItem struct {
	At   time.Time
	Kind HistoryKind
	// For inbound: what classification said (package classify).
	MessageKind outreach.MessageKind
	Reason      string              // auto_reply: vacation|challenge|ticket|left|other; bounce: the bounce reason
	Permanent   bool                // bounce: a hard failure
	ReturnDate  *time.Time          // first day back: 00:00 in the contact's zone, or a UTC calendar date
	Confidence  outreach.Confidence // only certain and likely act without review
	// Until ends a user_pause; nil pauses until user_resume.
	Until *time.Time
}

// Thread is what Decide needs to know of one conversation.
type Thread struct {
	History   []HistoryItem  // any order: Decide sorts it
	ContactTZ *time.Location // the recipient's zone; nil means UTC
	Blocked   bool           // the contact is on the do-not-contact list now
	// Policy is already merged with the contact's overrides; invalid keys
	// act as their defaults (outreach.Policy.Effective).
	Policy outreach.Policy
	// CooldownUntil: an earlier thread with this person closed without
	// response, and nothing is proposed before this time.
	CooldownUntil *time.Time
}

// The next actions a Decision may schedule.
const (
	ActionProposeFollowUp = "propose_followup"
	ActionCloseNoResponse = "close_no_response"
	ActionResume          = "resume"
	ActionExpireDraft     = "expire_draft"
)

// The reasons a thread closed.
const (
	ClosedNoResponse  = "no_response"
	ClosedDraftExpiry = "draft_expired"
	ClosedTooLate     = "too_late" // the follow-up's time passed before it could be proposed
	ClosedDeclined    = "declined"
	ClosedByUser      = "by_user"
)

// Decision is what Decide says about a thread at one instant.
type Decision struct {
	State outreach.ThreadState
	// NextAction is due at NextActionAt, never before now; "" and nil when
	// nothing is scheduled. A planner that looks again at NextActionAt sees
	// every state on the way, so each change it stores follows
	// ThreadTransitions; jumping further ahead may skip one (paused, then
	// followed_up, then closed_no_response).
	NextAction   string
	NextActionAt *time.Time
	// ProposeDraft: at now, a follow-up draft should be proposed.
	ProposeDraft bool
	// CancelDrafts: any proposed or approved draft must be superseded now;
	// the planner records draft_superseded when it has done so.
	CancelDrafts  bool
	FollowUpsSent int // 0 or 1
	PausedUntil   *time.Time
	ClosedReason  string   // for closed states
	Rule          string   // the rule that decided
	Evidence      string   // in words, for the decision log
	Warnings      []string // such as over_contact
}

// Decide says where a thread stands at now and what happens next. It is a
// pure function of the whole history: the items are replayed in time order
// (ties broken by kind, then by content, so the given order never matters),
// the clock-driven rules (silence, draft expiry, pause end) are applied
// between items, and the rules below decide the state, first match wins:
//
//  1. no initial_sent: needs_review.
//  2. blocked (the flag, or a blocked item not followed by user_close): blocked.
//  3. user_close or a rejected draft, not undone by user_reopen: closed_by_user.
//  4. a human reply, certain or likely, from any address: replied, forever.
//  5. a complaint, an unsure classification, a soft bounce, a challenge, a
//     "has left" auto-reply, or a reopen that cannot go back directly:
//     needs_review until user_resume.
//  6. a permanent bounce: bounced.
//  7. closed without response earlier (silence, draft expiry or too late):
//     stays closed.
//  8. paused: an out-of-office return date plus resume_after_return_days
//     working days, or user_pause, until it ends or user_resume.
//  9. a follow-up went out (followup_sent, or any touch_out after the
//     initial): followed_up; close_after_days after it, or after the end of
//     a later pause, closed_no_response. Never a second follow-up.
//  10. an open draft: draft_proposed; unapproved for draft_expires_after_days:
//     closed_no_response (draft_expired).
//  11. follow_up_after_days after the initial, no earlier than the end of a
//     pause or CooldownUntil, moved into the send window: followup_due, and
//     a draft is proposed unless a stale one is still open; before that,
//     awaiting_reply. Once follow_up_window_days have passed since it
//     fell due (or since the applicant's latest user_resume) with no draft
//     proposed, it is too late: closed_no_response (too_late). An old
//     email found only now (a contact added after the sync, a Sent folder
//     full of history) gets no follow-up months later.
//
// Every change of state between two consecutive items follows
// outreach.ThreadTransitions; where the table has no direct edge (leaving
// closed_by_user for a waiting state) rule 5 routes through needs_review.
func Decide(t Thread, now time.Time) Decision {
	f := newFacts(t)
	for _, it := range sortedHistory(t.History) {
		f.settle(it.At)
		f.apply(it)
		f.supersedeDraft(it.At)
	}
	return f.decision(f.derive(now), now)
}

// sortedHistory returns the items in replay order, leaving h untouched.
func sortedHistory(h []HistoryItem) []HistoryItem {
	if slices.IsSortedFunc(h, compareItems) {
		return h // read only, never written
	}
	s := slices.Clone(h)
	slices.SortStableFunc(s, compareItems)
	return s
}

// compareItems is a total order on items: equal items are interchangeable.
func compareItems(a, b HistoryItem) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	if c := cmp.Compare(rankOf(a.Kind), rankOf(b.Kind)); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.MessageKind, b.MessageKind), cmp.Compare(a.Reason, b.Reason),
		compareBool(a.Permanent, b.Permanent), cmp.Compare(a.Confidence, b.Confidence),
		compareTimes(a.ReturnDate, b.ReturnDate), compareTimes(a.Until, b.Until))
}

func rankOf(k HistoryKind) int {
	if r, ok := historyRank[k]; ok {
		return r
	}
	return len(historyRank)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func compareTimes(a, b *time.Time) int {
	switch {
	case a == nil || b == nil:
		return compareBool(a != nil, b != nil)
	}
	return a.Compare(*b)
}

// decision turns the verdict at now into the Decision the planner acts on.
func (f *facts) decision(v verdict, now time.Time) Decision {
	d := Decision{State: v.state, Rule: v.rule, ClosedReason: v.closedReason, ProposeDraft: v.propose,
		PausedUntil: v.pausedUntil, FollowUpsSent: min(f.outbound, 1)}
	d.CancelDrafts = f.draft.outstanding && v.state != outreach.ThreadDraftProposed
	if v.action != "" {
		at := v.actionAt
		if at.Before(now) {
			at = now
		}
		d.NextAction, d.NextActionAt = v.action, &at
	}
	words := []string{f.explain(v, now)}
	for _, n := range f.notes {
		words = append(words, f.words(n))
	}
	d.Evidence = strings.Join(words, "; ")
	if w := f.overContact(); w != "" {
		d.Warnings = []string{w}
	}
	return d
}

// overContact warns when the applicant wrote three times or more to someone
// who never answered: the product promises one follow-up, not persistence.
func (f *facts) overContact() string {
	total := 1 + f.outbound
	if !f.initial || f.replied || total < 3 {
		return ""
	}
	if byHand := 1 + f.manual; byHand == total {
		return fmt.Sprintf("over_contact: %d emails by hand to someone who never answered", total)
	}
	return fmt.Sprintf("over_contact: %d emails (%d sent by Outreach) to someone who never answered", total, total-1-f.manual)
}

// stamp formats an instant for evidence, on the recipient's clock.
func (f *facts) stamp(t time.Time) string { return t.In(f.cal.loc).Format("2006-01-02 15:04 MST") }
