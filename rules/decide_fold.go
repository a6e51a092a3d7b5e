package rules

import (
	"time"

	outreach "github.com/outreach/outreach"
)

// facts is what the replayed history has established so far. The state is
// never stored here: derive computes it from the facts and the clock, so
// that a rule is written once and holds at every instant.
type facts struct {
	cal      calendar
	policy   outreach.Policy // effective
	dueRule  string          // the name of rule 11 under this policy
	flagged  bool            // Thread.Blocked
	cooldown time.Time       // Thread.CooldownUntil; zero when none
	seq      int             // the number of the item being applied

	initial   bool
	initialAt time.Time
	outbound  int // our emails after the initial: follow-ups and touches
	manual    int // of which written by hand
	followAt  time.Time
	followBy  string // the rule for followed_up: manual_followup or one_followup_only

	blockedSeq int // the last blocked item; 0 when none
	closed     bool
	closedSeq  int
	closedWhy  string // ClosedByUser or ClosedDeclined
	closedEvid fact
	latched    string    // ClosedNoResponse, ClosedDraftExpiry or ClosedTooLate once closed for good
	latchedAt  time.Time // the follow-up or the draft the closing refers to

	replied     bool
	repliedEvid fact
	bounced     bool
	bouncedEvid fact
	review      string // the rule that asks for review; "" when none
	reviewEvid  fact
	resumedAt   time.Time // the applicant's latest user_resume: the follow-up window opens again

	pause pauseFacts
	draft draftFacts
	notes []fact // items that changed nothing
}

// fact is a piece of evidence: what happened and when. It is put in words
// only for the returned decision, not at every step of the replay.
type fact struct {
	what string
	at   time.Time
}

// pauseFacts: the current pause, and when earlier pauses ended.
type pauseFacts struct {
	until      time.Time // zero when none
	indefinite bool
	rule       string // ooo_return_date or user_pause
	evidence   fact
	priorEnd   time.Time // the latest end of a pause that is over
}

// draftFacts: the newest proposed draft.
type draftFacts struct {
	outstanding bool // proposed or approved, not yet resolved by a draft item or a send
	live        bool // outstanding and the thread has stayed in draft_proposed since
	approved    bool
	proposedAt  time.Time
}

// maxNotes bounds the evidence of items that changed nothing.
const maxNotes = 3

func newFacts(t Thread) *facts {
	p := t.Policy.Effective()
	f := &facts{cal: compileCalendar(t.ContactTZ, p), policy: p, flagged: t.Blocked, dueRule: silenceRule(p)}
	if t.CooldownUntil != nil {
		f.cooldown = *t.CooldownUntil
	}
	return f
}

// settle applies the clock up to at, before the item at that instant: a
// thread that the silence or an expired draft closed stays closed, whatever
// arrives afterwards (rule 7).
func (f *facts) settle(at time.Time) {
	if v := f.derive(at); v.state == outreach.ThreadClosedNoResponse && f.latched == "" && v.byClock {
		f.latched, f.latchedAt = v.closedReason, v.since
	}
	f.supersedeDraft(at)
}

// supersedeDraft: a draft survives only while the thread stays in
// draft_proposed. A reply, bounce, review, pause, block, close or a manual
// follow-up makes it moot for good (docs/states.md: proposed -> superseded).
func (f *facts) supersedeDraft(at time.Time) {
	if f.draft.live && f.derive(at).state != outreach.ThreadDraftProposed {
		f.draft.live = false
	}
}

// apply records one item.
func (f *facts) apply(it HistoryItem) {
	f.seq++
	switch it.Kind {
	case HistoryInitialSent:
		f.initialSent(it.At)
	case HistoryTouchOut:
		f.outboundMail(it.At, true)
	case HistoryFollowUpSent:
		f.outboundMail(it.At, false)
		f.draft = draftFacts{}
		if f.review == "send_unsure" {
			f.review = "" // it did go out: nothing left to decide
		}
	case HistoryInbound:
		f.inbound(it)
	case HistoryUserPause:
		f.startPause(it.At, it.Until, it.Until == nil, "user_pause", fact{"paused by the applicant", it.At})
	case HistoryUserResume:
		f.resume(it.At)
	case HistoryUserClose:
		f.userClose(it.At)
	case HistoryUserReopen:
		f.reopen(it.At)
	case HistoryBlocked:
		f.blockedSeq = f.seq
	case HistorySendTrouble:
		f.sendTrouble(it)
	default:
		f.applyDraft(it)
	}
}

func (f *facts) initialSent(at time.Time) {
	if f.initial {
		f.outboundMail(at, true) // a second "initial" is another email to the same person
		return
	}
	f.initial, f.initialAt = true, at
}

// outboundMail counts one of our emails; after the initial, the first one
// is the follow-up (rule 9).
func (f *facts) outboundMail(at time.Time, byHand bool) {
	if !f.initial {
		f.note("an email before the initial one, not counted", at)
		return
	}
	if f.outbound == 0 {
		f.followAt, f.followBy = at, "one_followup_only"
		if byHand {
			f.followBy = "manual_followup"
		}
	}
	f.outbound++
	if byHand {
		f.manual++
	}
}

// applyDraft records a draft item. Items about a draft that is no longer
// live (superseded, or proposed when no follow-up was due) only resolve it.
func (f *facts) applyDraft(it HistoryItem) {
	live := f.draft.live
	switch it.Kind {
	case HistoryDraftProposed:
		s := f.derive(it.At).state
		f.draft = draftFacts{outstanding: true, proposedAt: it.At,
			live: s == outreach.ThreadFollowUpDue || s == outreach.ThreadDraftProposed}
		return
	case HistoryDraftApproved:
		f.draft.approved = f.draft.approved || live
		return
	case HistoryDraftRejected:
		if live {
			f.close(ClosedDeclined, fact{"the applicant rejected the follow-up draft", it.At})
		}
	case HistoryDraftExpired:
		if live {
			f.latched, f.latchedAt = ClosedDraftExpiry, f.draft.proposedAt
		}
	case HistoryDraftRedraft, HistoryDraftSuperseded:
	default:
		f.note("unknown history item "+string(it.Kind)+" ignored", it.At)
		return
	}
	f.draft = draftFacts{}
}

func (f *facts) close(why string, evidence fact) {
	f.closed, f.closedSeq, f.closedWhy, f.closedEvid = true, f.seq, why, evidence
}

// userClose: closed_no_response cannot become closed_by_user (the table has
// no such edge), and it is closed already.
func (f *facts) userClose(at time.Time) {
	if f.derive(at).state == outreach.ThreadClosedNoResponse {
		f.note("closed by the applicant, already closed without response", at)
		return
	}
	f.close(ClosedByUser, fact{"closed by the applicant", at})
}

// reopen undoes a close. closed_by_user may only become replied,
// needs_review or blocked; any other state the history implies waits in
// needs_review until the applicant resumes (rule 5).
func (f *facts) reopen(at time.Time) {
	if !f.closed {
		return
	}
	f.closed = false
	if s := f.derive(at).state; !outreach.ThreadClosedByUser.CanTransition(s) {
		f.review, f.reviewEvid = "reopened", fact{"reopened, to go on as " + string(s) + " once resumed", at}
	}
}

// inbound records a message from the contact's side.
func (f *facts) inbound(it HistoryItem) {
	at, k := it.At, it.MessageKind
	sure := it.Confidence == outreach.Certain || it.Confidence == outreach.Likely
	switch {
	case !k.Valid():
		f.flagReview(at, "unclassified", "an unclassified message")
	case k == outreach.MessageHuman && sure:
		f.reply(at)
	case k == outreach.MessageComplaint:
		f.flagReview(at, "complaint", "a spam complaint")
	case !sure:
		f.flagReview(at, "unsure_classification", "a message classified "+string(k)+" without confidence")
	case k == outreach.MessageBounce:
		f.bounce(it)
	case k == outreach.MessageAutoReply:
		f.autoReply(it)
	default: // delay, receipt, list, notice: no one wrote back
	}
}

// reply: a human answered. A reply after the applicant closed the thread
// reopens it as replied, unless the contact is blocked.
func (f *facts) reply(at time.Time) {
	if !f.replied {
		f.replied, f.repliedEvid = true, fact{"a human reply", at}
	}
	if f.closed && !f.isBlocked() {
		f.closed = false
	}
}

func (f *facts) bounce(it HistoryItem) {
	if !it.Permanent {
		f.flagReview(it.At, "soft_bounce", "a temporary delivery failure ("+it.Reason+")")
		return
	}
	if !f.bounced {
		f.bounced, f.bouncedEvid = true, fact{"a permanent delivery failure (" + it.Reason + ")", it.At}
	}
}

// autoReply: RFC 3834 auto-replies. A challenge or "has left" needs the
// applicant; a return date pauses; anything else is silence.
func (f *facts) autoReply(it HistoryItem) {
	switch {
	case it.Reason == "challenge":
		f.flagReview(it.At, "challenge", "a challenge-response system asks to verify the sender")
	case it.Reason == "left":
		f.flagReview(it.At, "left", "an auto-reply says the contact has left")
	case it.ReturnDate != nil:
		until := f.cal.resumeAfterReturn(*it.ReturnDate, f.policy.ResumeAfterReturnDays)
		ret := returnDay(*it.ReturnDate, f.cal.loc)
		f.startPause(it.At, &until, false, "ooo_return_date",
			fact{"an out-of-office reply gives " + ret.String() + " as the return date", it.At})
	default:
		f.note("an auto-reply ("+it.Reason+") without a return date, read as silence", it.At)
	}
}

// sendTrouble: the approved draft is no longer on its way. A permanent
// failure ends it; a send that may have gone out waits for its copy in
// Sent (followup_sent then settles the review). Either way the applicant
// decides what comes next.
func (f *facts) sendTrouble(it HistoryItem) {
	f.draft = draftFacts{}
	if it.Reason == "failed" {
		f.flagReview(it.At, "send_failed", "the follow-up could not be delivered")
		return
	}
	f.flagReview(it.At, "send_unsure", "the follow-up may have been sent: the mail server's answer was lost")
}

func (f *facts) flagReview(at time.Time, rule, what string) {
	f.review, f.reviewEvid = rule, fact{what, at}
}

// startPause pauses until `until` (or indefinitely). Pauses never shorten
// one another: the later end wins. A pause that is over before it was
// recorded changes nothing.
func (f *facts) startPause(at time.Time, until *time.Time, indefinite bool, rule string, evidence fact) {
	if !indefinite && !until.After(at) {
		f.note(evidence.what+", over before it was recorded", at)
		return
	}
	p := &f.pause
	if !f.pausedAt(at) {
		p.priorEnd = laterOf(p.priorEnd, p.until)
		p.until = time.Time{}
	}
	p.rule, p.evidence = rule, evidence
	if indefinite {
		p.indefinite = true
	} else {
		p.until = laterOf(p.until, *until)
	}
}

// resume ends any pause now and settles any review (rules 5 and 8).
func (f *facts) resume(at time.Time) {
	p := &f.pause
	if f.pausedAt(at) {
		p.priorEnd = laterOf(p.priorEnd, at)
	} else {
		p.priorEnd = laterOf(p.priorEnd, p.until)
	}
	p.until, p.indefinite = time.Time{}, false
	f.review, f.reviewEvid = "", fact{}
	f.resumedAt = laterOf(f.resumedAt, at)
}

func (f *facts) pausedAt(t time.Time) bool { return f.pause.indefinite || f.pause.until.After(t) }

// pauseEnd is when the latest pause that is over at t ended; zero when none.
func (f *facts) pauseEnd(t time.Time) time.Time {
	if !f.pause.indefinite && !f.pause.until.After(t) {
		return laterOf(f.pause.priorEnd, f.pause.until)
	}
	return f.pause.priorEnd
}

func (f *facts) isBlocked() bool { return f.flagged || f.blockedSeq > 0 }

func (f *facts) note(what string, at time.Time) {
	if len(f.notes) == maxNotes {
		f.notes = f.notes[1:]
	}
	f.notes = append(f.notes, fact{what, at})
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
