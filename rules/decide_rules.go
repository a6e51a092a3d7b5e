package rules

import (
	"fmt"
	"time"

	outreach "github.com/outreach/outreach"
)

// verdict is the state the facts imply at one instant, and why. Words for
// the decision log are made only for the returned decision (explain).
type verdict struct {
	state        outreach.ThreadState
	rule         string
	closedReason string
	pausedUntil  *time.Time
	action       string
	actionAt     time.Time
	since        time.Time // the instant the rule counts from (initial, follow-up, draft)
	propose      bool
	byClock      bool // closed_no_response reached by the clock just now, not latched yet
}

// stateRule is one of Decide's rules: it reports whether it decides the
// state at t and, if so, the verdict.
type stateRule func(f *facts, t time.Time) (verdict, bool)

// decideOrder lists Decide's rules 1 to 10 in order, first match wins;
// Decide's doc comment says each in words.
var decideOrder = []stateRule{
	ruleNoInitial, ruleBlocked, ruleClosedByUser, ruleHumanReply, ruleReview, ruleHardBounce,
	ruleClosedBefore, rulePaused, ruleFollowedUp, ruleDraftOpen,
}

// derive applies the rules at t; rule 11 decides when no other does.
func (f *facts) derive(t time.Time) verdict {
	for _, r := range decideOrder {
		if v, ok := r(f, t); ok {
			return v
		}
	}
	return ruleSilence(f, t)
}

// Rule 1: without the initial email there is nothing to follow up.
func ruleNoInitial(f *facts, _ time.Time) (verdict, bool) {
	return verdict{state: outreach.ThreadNeedsReview, rule: "no_initial_email"}, !f.initial
}

// Rule 2: a blocked contact gets nothing; only closing the thread moves it.
func ruleBlocked(f *facts, _ time.Time) (verdict, bool) {
	if !f.isBlocked() {
		return verdict{}, false
	}
	if !f.flagged && f.closed && f.closedSeq > f.blockedSeq {
		return closedByUser(f), true
	}
	return verdict{state: outreach.ThreadBlocked, rule: "blocked"}, true
}

// Rule 3.
func ruleClosedByUser(f *facts, _ time.Time) (verdict, bool) {
	return closedByUser(f), f.closed
}

func closedByUser(f *facts) verdict {
	rule := "user_close"
	if f.closedWhy == ClosedDeclined {
		rule = "draft_rejected"
	}
	return verdict{state: outreach.ThreadClosedByUser, rule: rule, closedReason: f.closedWhy}
}

// Rule 4: a person answered, from any address: never follow up again.
func ruleHumanReply(f *facts, _ time.Time) (verdict, bool) {
	return verdict{state: outreach.ThreadReplied, rule: "human_reply"}, f.replied
}

// Rule 5: the applicant decides. It comes before a bounce so that a
// complaint after a bounce, or a reopened bounced thread, is seen.
func ruleReview(f *facts, _ time.Time) (verdict, bool) {
	return verdict{state: outreach.ThreadNeedsReview, rule: f.review}, f.review != ""
}

// Rule 6: a permanent failure (RFC 3464 status 5.x.x): the address is dead.
func ruleHardBounce(f *facts, _ time.Time) (verdict, bool) {
	return verdict{state: outreach.ThreadBounced, rule: "hard_bounce"}, f.bounced
}

// Rule 7: what the clock closed stays closed.
func ruleClosedBefore(f *facts, _ time.Time) (verdict, bool) {
	rule := "silence_after_followup"
	switch f.latched {
	case ClosedDraftExpiry:
		rule = "draft_expired"
	case ClosedTooLate:
		rule = "followup_too_late"
	}
	return verdict{state: outreach.ThreadClosedNoResponse, rule: rule, closedReason: f.latched,
		since: f.latchedAt}, f.latched != ""
}

// Rule 8.
func rulePaused(f *facts, t time.Time) (verdict, bool) {
	if !f.pausedAt(t) {
		return verdict{}, false
	}
	v := verdict{state: outreach.ThreadPaused, rule: f.pause.rule}
	if !f.pause.indefinite {
		until := f.pause.until
		v.pausedUntil, v.action, v.actionAt = &until, ActionResume, until
	}
	return v, true
}

// Rule 9: one follow-up, then silence closes the thread.
func ruleFollowedUp(f *facts, t time.Time) (verdict, bool) {
	if f.outbound == 0 {
		return verdict{}, false
	}
	closeAt := f.cal.shift(laterOf(f.followAt, f.pauseEnd(t)), f.policy.CloseAfterDays, f.cal.business)
	if !t.Before(closeAt) {
		return verdict{state: outreach.ThreadClosedNoResponse, rule: "silence_after_followup", byClock: true,
			closedReason: ClosedNoResponse, since: f.followAt}, true
	}
	return verdict{state: outreach.ThreadFollowedUp, rule: f.followBy, action: ActionCloseNoResponse,
		actionAt: closeAt, since: f.followAt}, true
}

// Rule 10: a draft waits for approval, but not forever.
func ruleDraftOpen(f *facts, t time.Time) (verdict, bool) {
	if !f.draft.live {
		return verdict{}, false
	}
	v := verdict{state: outreach.ThreadDraftProposed, rule: "draft_approved", since: f.draft.proposedAt}
	if f.draft.approved {
		return v, true
	}
	expireAt := f.cal.shift(f.draft.proposedAt, f.policy.DraftExpiresAfterDays, f.cal.business)
	if !t.Before(expireAt) {
		v.state, v.rule, v.closedReason, v.byClock = outreach.ThreadClosedNoResponse, "draft_expired", ClosedDraftExpiry, true
		return v, true
	}
	v.rule, v.action, v.actionAt = "draft_open", ActionExpireDraft, expireAt
	return v, true
}

// Rule 11: silence long enough, in the recipient's send window.
func ruleSilence(f *facts, t time.Time) verdict {
	dueAt, _ := f.followUpDue(t)
	v := verdict{state: outreach.ThreadAwaitingReply, rule: "awaiting_silence", action: ActionProposeFollowUp,
		actionAt: dueAt, since: f.initialAt}
	if t.Before(dueAt) {
		return v
	}
	// follow_up_window_days after it fell due, or after the applicant let
	// the thread go on (user_resume), the moment has gone.
	opened := laterOf(dueAt, f.resumedAt)
	if w := f.policy.FollowUpWindowDays; w > 0 && !t.Before(f.cal.shift(opened, w, f.cal.business)) && !f.draft.outstanding {
		return verdict{state: outreach.ThreadClosedNoResponse, rule: "followup_too_late", closedReason: ClosedTooLate,
			byClock: true, since: dueAt}
	}
	v.state, v.rule, v.propose = outreach.ThreadFollowUpDue, f.dueRule, !f.draft.outstanding
	return v
}

// followUpDue is when the follow-up becomes due, and what set the time:
// follow_up_after_days after the initial email, no earlier than the end of a
// pause or the cooldown, moved into the recipient's send window.
func (f *facts) followUpDue(t time.Time) (time.Time, fact) {
	due, why := f.cal.shift(f.initialAt, f.policy.FollowUpAfterDays, f.cal.business), fact{"silence", f.initialAt}
	if end := f.pauseEnd(t); end.After(due) {
		due, why = end, fact{"the end of a pause", end}
	}
	if f.cooldown.After(due) {
		due, why = f.cooldown, fact{"the cooldown after an earlier thread with this person", f.cooldown}
	}
	return f.cal.nextSendTime(due), why
}

// silenceRule names rule 11 by the policy: silence_7d, or silence_5bd in
// working days.
func silenceRule(p outreach.Policy) string {
	if p.BusinessDays {
		return fmt.Sprintf("silence_%dbd", p.FollowUpAfterDays)
	}
	return fmt.Sprintf("silence_%dd", p.FollowUpAfterDays)
}

func (f *facts) dayCount(n int) string {
	if f.cal.business {
		return fmt.Sprintf("%d working days", n)
	}
	return fmt.Sprintf("%d days", n)
}

// explain puts a verdict at t in words, for the decision log.
func (f *facts) explain(v verdict, t time.Time) string {
	switch v.state {
	case outreach.ThreadNeedsReview:
		if v.rule == "no_initial_email" {
			return "no initial email in the history"
		}
		return f.words(f.reviewEvid) + "; the applicant decides"
	case outreach.ThreadBlocked:
		return "the contact is on the do-not-contact list"
	case outreach.ThreadClosedByUser:
		return f.words(f.closedEvid)
	case outreach.ThreadReplied:
		return f.words(f.repliedEvid)
	case outreach.ThreadBounced:
		return f.words(f.bouncedEvid)
	case outreach.ThreadPaused:
		return f.explainPause(v)
	}
	return f.explainClock(v, t)
}

func (f *facts) explainPause(v verdict) string {
	if v.pausedUntil == nil {
		return f.words(f.pause.evidence) + ", until the applicant resumes"
	}
	return f.words(f.pause.evidence) + "; resumes " + f.stamp(*v.pausedUntil)
}

// explainClock explains the states that the silence moves along.
func (f *facts) explainClock(v verdict, t time.Time) string {
	switch {
	case v.closedReason == ClosedDraftExpiry:
		return "the follow-up draft proposed " + f.stamp(v.since) + " was not approved in time"
	case v.closedReason == ClosedTooLate:
		return "initial email " + f.stamp(f.initialAt) + "; the follow-up was due " + f.stamp(v.since) +
			", more than " + f.dayCount(f.policy.FollowUpWindowDays) + " ago: too late for it now"
	case v.closedReason == ClosedNoResponse:
		return fmt.Sprintf("no response %s after the follow-up of %s", f.dayCount(f.policy.CloseAfterDays), f.stamp(v.since))
	case v.state == outreach.ThreadFollowedUp:
		return "follow-up sent " + f.stamp(v.since) + "; closes " + f.stamp(v.actionAt) + " without a response"
	case v.rule == "draft_approved":
		return "the follow-up draft proposed " + f.stamp(v.since) + " is approved and waits for the send window"
	case v.state == outreach.ThreadDraftProposed:
		return "the follow-up draft proposed " + f.stamp(v.since) + " waits for approval until " + f.stamp(v.actionAt)
	}
	dueAt, why := f.followUpDue(t)
	s := "initial email " + f.stamp(f.initialAt) + "; follow-up due " + f.stamp(dueAt) + ": "
	if why.what == "silence" {
		s += f.dayCount(f.policy.FollowUpAfterDays) + " of silence, in the send window"
	} else {
		s += "after " + why.what + " (" + f.stamp(why.at) + "), in the send window"
	}
	if v.state == outreach.ThreadFollowUpDue && !v.propose {
		s += "; an earlier draft must be superseded first"
	}
	return s
}

// words puts a fact in words: "when: what".
func (f *facts) words(e fact) string { return f.stamp(e.at) + ": " + e.what }
