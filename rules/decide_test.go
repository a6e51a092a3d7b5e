package rules

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
)

// t0 is a Monday, 10:00 UTC: inside the default send window.
var t0 = utc(2026, 6, 1, 10, 0)

// at is t0 plus n days (fractions allowed).
func at(n float64) time.Time { return t0.Add(time.Duration(n * float64(24*time.Hour))) }

func ev(k HistoryKind, at time.Time) HistoryItem { return HistoryItem{At: at, Kind: k} }

func msg(at time.Time, k outreach.MessageKind, c outreach.Confidence) HistoryItem {
	return HistoryItem{At: at, Kind: HistoryInbound, MessageKind: k, Confidence: c}
}

func human(at time.Time) HistoryItem { return msg(at, outreach.MessageHuman, outreach.Certain) }

func bounce(at time.Time, permanent bool) HistoryItem {
	it := msg(at, outreach.MessageBounce, outreach.Certain)
	it.Permanent, it.Reason = permanent, "user_unknown"
	return it
}

func autoReply(at time.Time, reason string, ret *time.Time) HistoryItem {
	it := msg(at, outreach.MessageAutoReply, outreach.Certain)
	it.Reason, it.ReturnDate = reason, ret
	return it
}

// ooo is a vacation reply saying the contact is back on ret (a UTC date).
func ooo(at time.Time, y int, m time.Month, d int) HistoryItem {
	ret := utc(y, m, d, 0, 0)
	return autoReply(at, "vacation", &ret)
}

func userPause(at time.Time, until *time.Time) HistoryItem {
	it := ev(HistoryUserPause, at)
	it.Until = until
	return it
}

func ptr[T any](v T) *T { return &v }

func thread(items ...HistoryItem) Thread {
	return Thread{History: items, Policy: outreach.DefaultPolicy()}
}

// The prefixes the transition cases start from, with the state each has.
var (
	hAwaiting = []HistoryItem{ev(HistoryInitialSent, at(0))}
	hDraft    = []HistoryItem{ev(HistoryInitialSent, at(0)), ev(HistoryDraftProposed, at(7))}
	hApproved = append(slices.Clone(hDraft), ev(HistoryDraftApproved, at(7.1)))
	hFollowed = append(slices.Clone(hApproved), ev(HistoryFollowUpSent, at(8)))
	hPaused   = []HistoryItem{ev(HistoryInitialSent, at(0)), ooo(at(2), 2026, 6, 11)} // resumes Mon 06-15 00:00
	hReview   = []HistoryItem{ev(HistoryInitialSent, at(0)), msg(at(2), outreach.MessageHuman, outreach.Unsure)}
	hReplied  = []HistoryItem{ev(HistoryInitialSent, at(0)), human(at(2))}
	hBounced  = []HistoryItem{ev(HistoryInitialSent, at(0)), bounce(at(0.1), true)}
	hClosedU  = []HistoryItem{ev(HistoryInitialSent, at(0)), ev(HistoryUserClose, at(1))}
	hBlocked  = []HistoryItem{ev(HistoryInitialSent, at(0)), ev(HistoryBlocked, at(1))}
	hFUReview = append(slices.Clone(hFollowed), msg(at(9), outreach.MessageComplaint, outreach.Certain))
	hFUPaused = append(slices.Clone(hFollowed), userPause(at(9), nil))
)

// transitionCase is one edge of outreach.ThreadTransitions that Decide
// produces: from the decision on hist at now, either one more item (at
// now) or the clock moving to later.
type transitionCase struct {
	from, to outreach.ThreadState
	why      string
	hist     []HistoryItem
	now      time.Time
	add      *HistoryItem
	later    time.Time
}

func step(from, to outreach.ThreadState, why string, hist []HistoryItem, now time.Time, add HistoryItem) transitionCase {
	add.At = now
	return transitionCase{from: from, to: to, why: why, hist: hist, now: now, add: &add}
}

func tick(from, to outreach.ThreadState, why string, hist []HistoryItem, now, later time.Time) transitionCase {
	return transitionCase{from: from, to: to, why: why, hist: hist, now: now, later: later}
}

const (
	awaiting   = outreach.ThreadAwaitingReply
	due        = outreach.ThreadFollowUpDue
	proposed   = outreach.ThreadDraftProposed
	followedUp = outreach.ThreadFollowedUp
	closedNR   = outreach.ThreadClosedNoResponse
	replied    = outreach.ThreadReplied
	bounced    = outreach.ThreadBounced
	paused     = outreach.ThreadPaused
	review     = outreach.ThreadNeedsReview
	blocked    = outreach.ThreadBlocked
	closedU    = outreach.ThreadClosedByUser
)

var (
	anyTime  = HistoryItem{}
	complain = msg(anyTime.At, outreach.MessageComplaint, outreach.Certain)
	unsure   = msg(anyTime.At, outreach.MessageHuman, outreach.Unsure)
)

func transitionCases() []transitionCase {
	return []transitionCase{
		tick(awaiting, due, "silence for follow_up_after_days", hAwaiting, at(1), at(8)),
		tick(awaiting, closedNR, "the follow-up's time passed unseen (follow_up_window_days after it fell due)",
			hAwaiting, at(1), at(30)),
		tick(due, closedNR, "too late for the follow-up", hAwaiting, at(8), at(21.5)),
		step(awaiting, followedUp, "manual follow-up", hAwaiting, at(3), ev(HistoryTouchOut, anyTime.At)),
		step(awaiting, replied, "human reply", hAwaiting, at(3), human(anyTime.At)),
		step(awaiting, bounced, "permanent bounce", hAwaiting, at(3), bounce(anyTime.At, true)),
		step(awaiting, paused, "out-of-office with a return date", hAwaiting, at(3), ooo(anyTime.At, 2026, 6, 11)),
		step(awaiting, review, "complaint", hAwaiting, at(3), complain),
		step(awaiting, blocked, "contact blocked", hAwaiting, at(3), ev(HistoryBlocked, anyTime.At)),
		step(awaiting, closedU, "user_close", hAwaiting, at(3), ev(HistoryUserClose, anyTime.At)),

		step(due, proposed, "planner proposes", hAwaiting, at(8), ev(HistoryDraftProposed, anyTime.At)),
		step(due, followedUp, "manual follow-up", hAwaiting, at(8), ev(HistoryTouchOut, anyTime.At)),
		step(due, replied, "human reply", hAwaiting, at(8), human(anyTime.At)),
		step(due, bounced, "permanent bounce", hAwaiting, at(8), bounce(anyTime.At, true)),
		step(due, paused, "user_pause", hAwaiting, at(8), userPause(anyTime.At, ptr(at(20)))),
		step(due, review, "challenge auto-reply", hAwaiting, at(8), autoReply(anyTime.At, "challenge", nil)),
		step(due, blocked, "contact blocked", hAwaiting, at(8), ev(HistoryBlocked, anyTime.At)),
		step(due, closedU, "user_close", hAwaiting, at(8), ev(HistoryUserClose, anyTime.At)),

		step(proposed, followedUp, "approved draft sent", hApproved, at(8), ev(HistoryFollowUpSent, anyTime.At)),
		step(proposed, due, "draft rejected with --redraft", hDraft, at(8), ev(HistoryDraftRedraft, anyTime.At)),
		step(proposed, replied, "human reply", hDraft, at(8), human(anyTime.At)),
		step(proposed, bounced, "permanent bounce", hApproved, at(8), bounce(anyTime.At, true)),
		step(proposed, paused, "out-of-office", hDraft, at(8), ooo(anyTime.At, 2026, 6, 20)),
		step(proposed, review, "soft bounce", hDraft, at(8), bounce(anyTime.At, false)),
		step(proposed, blocked, "contact blocked", hDraft, at(8), ev(HistoryBlocked, anyTime.At)),
		step(proposed, closedU, "draft rejected: declined", hDraft, at(8), ev(HistoryDraftRejected, anyTime.At)),
		step(proposed, closedNR, "draft expired", hDraft, at(11), ev(HistoryDraftExpired, anyTime.At)),
		tick(proposed, closedNR, "draft_expires_after_days passed", hDraft, at(11), at(12)),

		tick(followedUp, closedNR, "silence for close_after_days", hFollowed, at(9), at(22)),
		step(followedUp, replied, "late human reply", hFollowed, at(9), human(anyTime.At)),
		step(followedUp, bounced, "permanent bounce", hFollowed, at(9), bounce(anyTime.At, true)),
		step(followedUp, paused, "out-of-office", hFollowed, at(9), ooo(anyTime.At, 2026, 6, 20)),
		step(followedUp, review, "has-left auto-reply", hFollowed, at(9), autoReply(anyTime.At, "left", nil)),
		step(followedUp, blocked, "contact blocked", hFollowed, at(9), ev(HistoryBlocked, anyTime.At)),
		step(followedUp, closedU, "user_close", hFollowed, at(9), ev(HistoryUserClose, anyTime.At)),

		tick(paused, awaiting, "return date + resume_after_return_days", hPaused, at(3), at(13.7)),
		tick(paused, due, "resumed after the follow-up date", hPaused, at(3), at(14)),
		step(paused, due, "user_resume after the follow-up date", hPaused, at(9), ev(HistoryUserResume, anyTime.At)),
		step(paused, followedUp, "user_resume after the follow-up", hFUPaused, at(10), ev(HistoryUserResume, anyTime.At)),
		step(paused, replied, "human reply", hPaused, at(4), human(anyTime.At)),
		step(paused, bounced, "permanent bounce", hPaused, at(4), bounce(anyTime.At, true)),
		step(paused, review, "unsure classification", hPaused, at(4), unsure),
		step(paused, blocked, "contact blocked", hPaused, at(4), ev(HistoryBlocked, anyTime.At)),
		step(paused, closedU, "user_close", hPaused, at(4), ev(HistoryUserClose, anyTime.At)),

		step(review, awaiting, "applicant resumes", hReview, at(3), ev(HistoryUserResume, anyTime.At)),
		step(review, due, "applicant resumes after the follow-up date", hReview, at(8), ev(HistoryUserResume, anyTime.At)),
		step(review, followedUp, "applicant resumes after the follow-up", hFUReview, at(10), ev(HistoryUserResume, anyTime.At)),
		step(review, closedNR, "applicant resumes after the close date", hFUReview, at(23), ev(HistoryUserResume, anyTime.At)),
		step(review, replied, "human reply", hReview, at(3), human(anyTime.At)),
		step(review, bounced, "resume after a permanent bounce", append(slices.Clone(hReview), bounce(at(2.5), true)), at(3),
			ev(HistoryUserResume, anyTime.At)),
		step(review, paused, "the initial email arrives after a pause",
			[]HistoryItem{userPause(at(-1), nil)}, at(0), ev(HistoryInitialSent, anyTime.At)),
		step(review, blocked, "contact blocked", hReview, at(3), ev(HistoryBlocked, anyTime.At)),
		step(review, closedU, "user_close", hReview, at(3), ev(HistoryUserClose, anyTime.At)),

		step(replied, blocked, "contact blocked", hReplied, at(3), ev(HistoryBlocked, anyTime.At)),
		step(replied, closedU, "user_close", hReplied, at(3), ev(HistoryUserClose, anyTime.At)),

		step(bounced, replied, "a human answers from another address", hBounced, at(3), human(anyTime.At)),
		step(bounced, review, "a complaint after the bounce", hBounced, at(3), complain),
		step(bounced, blocked, "contact blocked", hBounced, at(3), ev(HistoryBlocked, anyTime.At)),
		step(bounced, closedU, "user_close", hBounced, at(3), ev(HistoryUserClose, anyTime.At)),

		step(closedNR, replied, "late reply", hFollowed, at(30), human(anyTime.At)),
		step(closedNR, bounced, "late bounce", hFollowed, at(30), bounce(anyTime.At, true)),
		step(closedNR, review, "late complaint", hFollowed, at(30), complain),
		step(closedNR, blocked, "contact blocked", hFollowed, at(30), ev(HistoryBlocked, anyTime.At)),

		step(closedU, replied, "reply after the close", hClosedU, at(3), human(anyTime.At)),
		step(closedU, review, "reopened: resume to go on", hClosedU, at(3), ev(HistoryUserReopen, anyTime.At)),
		step(closedU, blocked, "contact blocked", hClosedU, at(3), ev(HistoryBlocked, anyTime.At)),

		step(blocked, closedU, "user_close", hBlocked, at(3), ev(HistoryUserClose, anyTime.At)),
	}
}

// notProduced lists the edges of the table that Decide never takes, and why.
var notProduced = map[[2]outreach.ThreadState]string{
	{replied, review}: "a human reply is final: later review-worthy mail changes nothing (rule 4 before rule 5)",
}

func TestDecideTransitions(t *testing.T) {
	covered := map[[2]outreach.ThreadState]bool{}
	for _, c := range transitionCases() {
		name := fmt.Sprintf("%s -> %s: %s", c.from, c.to, c.why)
		t.Run(name, func(t *testing.T) {
			before := Decide(thread(c.hist...), c.now)
			var after Decision
			if c.add != nil {
				after = Decide(thread(append(slices.Clone(c.hist), *c.add)...), c.now)
			} else {
				after = Decide(thread(c.hist...), c.later)
			}
			if before.State != c.from || after.State != c.to {
				t.Fatalf("got %s (%s) -> %s (%s: %s)", before.State, before.Rule, after.State, after.Rule, after.Evidence)
			}
			if !c.from.CanTransition(c.to) {
				t.Errorf("%s -> %s is not in outreach.ThreadTransitions", c.from, c.to)
			}
		})
		covered[[2]outreach.ThreadState{c.from, c.to}] = true
	}
	for from, tos := range outreach.ThreadTransitions {
		for _, to := range tos {
			edge := [2]outreach.ThreadState{from, to}
			if _, skip := notProduced[edge]; !covered[edge] && !skip {
				t.Errorf("no case for %s -> %s", from, to)
			}
			if _, skip := notProduced[edge]; covered[edge] && skip {
				t.Errorf("%s -> %s is listed as not produced", from, to)
			}
		}
	}
}

// want is what a rule case checks; zero fields are not checked, except
// that ProposeDraft, CancelDrafts and FollowUpsSent are always compared.
type want struct {
	state        outreach.ThreadState
	rule         string
	propose      bool
	cancel       bool
	followUps    int
	closed       string
	action       string
	actionAt     time.Time
	pausedUntil  time.Time
	warning      string
	evidenceHint string
}

func TestDecideRules(t *testing.T) {
	ny := func(items ...HistoryItem) Thread { th := thread(items...); th.ContactTZ = newYork; return th }
	withPolicy := func(th Thread, edit func(*outreach.Policy)) Thread { edit(&th.Policy); return th }
	sent := ev(HistoryInitialSent, at(0))
	cases := []struct {
		name string
		th   Thread
		now  time.Time
		want want
	}{
		{"no initial email", thread(human(at(1))), at(2), want{state: review, rule: "no_initial_email"}},
		{"waiting for a week of silence", thread(sent), at(3),
			want{state: awaiting, rule: "awaiting_silence", action: ActionProposeFollowUp, actionAt: at(7)}},
		{"a week of silence: propose", thread(sent), at(7),
			want{state: due, rule: "silence_7d", propose: true, action: ActionProposeFollowUp, actionAt: at(7)}},
		{"due on a Saturday waits for Monday 08:00", thread(ev(HistoryInitialSent, utc(2026, 5, 30, 12, 0))), utc(2026, 6, 6, 13, 0),
			want{state: awaiting, actionAt: utc(2026, 6, 8, 8, 0)}},
		{"due in the recipient's evening waits for their morning", ny(ev(HistoryInitialSent, wall(newYork, 2026, 3, 2, 16, 30))),
			wall(newYork, 2026, 3, 9, 16, 30), want{state: due, propose: true, actionAt: wall(newYork, 2026, 3, 9, 16, 30)}},
		{"across spring forward the week ends at the same wall time", ny(ev(HistoryInitialSent, wall(newYork, 2026, 3, 2, 10, 0))),
			utc(2026, 3, 9, 13, 30), want{state: awaiting, actionAt: utc(2026, 3, 9, 14, 0)}},
		{"business days count working days", withPolicy(thread(sent), func(p *outreach.Policy) { p.BusinessDays = true }), at(8),
			want{state: awaiting, actionAt: at(9)}},
		{"cooldown after an earlier thread", func() Thread { th := thread(sent); th.CooldownUntil = ptr(at(30)); return th }(), at(8),
			want{state: awaiting, action: ActionProposeFollowUp, actionAt: at(30), evidenceHint: "cooldown"}},
		{"an open draft waits for approval", thread(hDraft...), at(8),
			want{state: proposed, rule: "draft_open", action: ActionExpireDraft, actionAt: at(12)}},
		{"an approved draft does not expire", thread(hApproved...), at(20), want{state: proposed, rule: "draft_approved"}},
		{"an unapproved draft expires", thread(hDraft...), at(12),
			want{state: closedNR, rule: "draft_expired", closed: ClosedDraftExpiry, cancel: true}},
		{"a redraft is not a second follow-up", thread(append(slices.Clone(hDraft), ev(HistoryDraftRedraft, at(8)))...), at(8),
			want{state: due, propose: true}},
		{"a rejected draft closes the thread: declined", thread(append(slices.Clone(hDraft), ev(HistoryDraftRejected, at(8)))...), at(8),
			want{state: closedU, rule: "draft_rejected", closed: ClosedDeclined}},
		{"the approved follow-up went out", thread(hFollowed...), at(9),
			want{state: followedUp, rule: "one_followup_only", followUps: 1, action: ActionCloseNoResponse, actionAt: at(22)}},
		{"silence after the follow-up closes", thread(hFollowed...), at(22),
			want{state: closedNR, rule: "silence_after_followup", closed: ClosedNoResponse, followUps: 1}},
		{"a manual follow-up cancels the draft", thread(append(slices.Clone(hApproved), ev(HistoryTouchOut, at(7.5)))...), at(7.5),
			want{state: followedUp, rule: "manual_followup", cancel: true, followUps: 1}},
		{"a third email by hand warns", thread(sent, ev(HistoryTouchOut, at(8)), ev(HistoryTouchOut, at(12))), at(12),
			want{state: followedUp, followUps: 1, warning: "over_contact: 3 emails by hand to someone who never answered"}},
		{"a third email after a reply is a conversation", thread(sent, human(at(1)), ev(HistoryTouchOut, at(2)), ev(HistoryTouchOut, at(3))), at(3),
			want{state: replied, followUps: 1}},
		{"a reply cancels the approved draft, forever", thread(append(slices.Clone(hApproved), human(at(7.5)))...), at(400),
			want{state: replied, rule: "human_reply", cancel: true}},
		{"a reply after the user closed reopens as replied", thread(sent, ev(HistoryUserClose, at(1)), human(at(2))), at(3),
			want{state: replied}},
		{"reopening a replied thread keeps it replied", thread(sent, human(at(1)), ev(HistoryUserClose, at(2)), ev(HistoryUserReopen, at(3))), at(3),
			want{state: replied}},
		{"reopen, then resume: waiting again", thread(sent, ev(HistoryUserClose, at(1)), ev(HistoryUserReopen, at(2)), ev(HistoryUserResume, at(2))), at(3),
			want{state: awaiting}},
		{"closing a thread closed by silence changes nothing", thread(append(slices.Clone(hFollowed), ev(HistoryUserClose, at(30)))...), at(31),
			want{state: closedNR, closed: ClosedNoResponse, followUps: 1}},
		{"out-of-office pauses until two working days after the return", thread(sent, ooo(at(2), 2026, 6, 11)), at(3),
			want{state: paused, rule: "ooo_return_date", action: ActionResume, actionAt: utc(2026, 6, 15, 0, 0), pausedUntil: utc(2026, 6, 15, 0, 0)}},
		{"after the pause the follow-up is due in the window", thread(sent, ooo(at(2), 2026, 6, 11)), utc(2026, 6, 15, 1, 0),
			want{state: awaiting, actionAt: utc(2026, 6, 15, 8, 0)}},
		{"an out-of-office after the follow-up restarts the closing clock", thread(append(slices.Clone(hFollowed), ooo(at(9), 2026, 6, 18))...), at(23),
			want{state: followedUp, followUps: 1, actionAt: utc(2026, 7, 6, 0, 0)}},
		{"an out-of-office while a draft is open cancels it", thread(append(slices.Clone(hApproved), ooo(at(7.5), 2026, 6, 20))...), at(8),
			want{state: paused, cancel: true}},
		{"after the pause a superseded draft must be cleared first",
			thread(append(slices.Clone(hDraft), userPause(at(7.5), nil), ev(HistoryUserResume, at(8)))...), at(8),
			want{state: due, cancel: true, propose: false, action: ActionProposeFollowUp}},
		{"then a fresh draft is proposed",
			thread(append(slices.Clone(hDraft), userPause(at(7.5), nil), ev(HistoryUserResume, at(8)), ev(HistoryDraftSuperseded, at(8)))...), at(8),
			want{state: due, propose: true}},
		{"an auto-reply without a return date is silence", thread(sent, autoReply(at(1), "vacation", nil)), at(7),
			want{state: due, propose: true, evidenceHint: "without a return date"}},
		{"receipts, lists, notices and delays are ignored", thread(sent, msg(at(1), outreach.MessageReceipt, outreach.Certain),
			msg(at(1), outreach.MessageList, outreach.Likely), msg(at(2), outreach.MessageNotice, outreach.Certain),
			msg(at(3), outreach.MessageDelay, outreach.Certain)), at(7), want{state: due, propose: true}},
		{"an unsure delay asks for review", thread(sent, msg(at(1), outreach.MessageDelay, outreach.Unsure)), at(7),
			want{state: review, rule: "unsure_classification"}},
		{"a blocked contact", func() Thread { th := thread(sent, human(at(1))); th.Blocked = true; return th }(), at(8),
			want{state: blocked, rule: "blocked"}},
		{"a pause with no end waits for the applicant", thread(sent, userPause(at(1), nil)), at(100),
			want{state: paused, rule: "user_pause"}},
		{"a second initial_sent is the follow-up", thread(sent, ev(HistoryInitialSent, at(8))), at(9),
			want{state: followedUp, followUps: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkWant(t, Decide(c.th, c.now), c.want)
		})
	}
}

func checkWant(t *testing.T, d Decision, w want) {
	t.Helper()
	var bad []string
	add := func(ok bool, format string, args ...any) {
		if !ok {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	add(d.State == w.state, "state %s, want %s", d.State, w.state)
	add(w.rule == "" || d.Rule == w.rule, "rule %q, want %q", d.Rule, w.rule)
	add(d.ProposeDraft == w.propose, "ProposeDraft %v", d.ProposeDraft)
	add(d.CancelDrafts == w.cancel, "CancelDrafts %v", d.CancelDrafts)
	add(d.FollowUpsSent == w.followUps, "FollowUpsSent %d", d.FollowUpsSent)
	add(w.closed == "" || d.ClosedReason == w.closed, "ClosedReason %q, want %q", d.ClosedReason, w.closed)
	add(w.action == "" || d.NextAction == w.action, "NextAction %q, want %q", d.NextAction, w.action)
	add(w.actionAt.IsZero() || (d.NextActionAt != nil && d.NextActionAt.Equal(w.actionAt)), "NextActionAt %v, want %s", d.NextActionAt, w.actionAt)
	add(w.pausedUntil.IsZero() || (d.PausedUntil != nil && d.PausedUntil.Equal(w.pausedUntil)), "PausedUntil %v, want %s", d.PausedUntil, w.pausedUntil)
	add(w.warning == "" || slices.Contains(d.Warnings, w.warning), "Warnings %q, want %q", d.Warnings, w.warning)
	add(w.warning != "" || len(d.Warnings) == 0, "unexpected Warnings %q", d.Warnings)
	add(strings.Contains(d.Evidence, w.evidenceHint), "Evidence %q lacks %q", d.Evidence, w.evidenceHint)
	if len(bad) > 0 {
		t.Errorf("%s\n(rule %s: %s)", strings.Join(bad, "; "), d.Rule, d.Evidence)
	}
}

func TestDecideIgnoresInputOrder(t *testing.T) {
	h := append(slices.Clone(hFollowed), human(at(8)), ev(HistoryTouchOut, at(8)), ooo(at(8), 2026, 6, 20))
	want := Decide(thread(h...), at(9))
	slices.Reverse(h)
	if got := Decide(thread(h...), at(9)); !reflect.DeepEqual(got, want) {
		t.Errorf("reversed history: %+v, want %+v", got, want)
	}
}

// A follow-up that could not be delivered, or may have gone out unseen,
// waits for the applicant; the copy in Sent settles the second case.
func TestDecideSendTrouble(t *testing.T) {
	t.Parallel()
	trouble := func(reason string, at time.Time) HistoryItem {
		it := ev(HistorySendTrouble, at)
		it.Reason = reason
		return it
	}
	failed := append(slices.Clone(hApproved), trouble("failed", at(7.2)))
	d := Decide(thread(failed...), at(7.3))
	if d.State != outreach.ThreadNeedsReview || d.Rule != "send_failed" || d.ProposeDraft || d.CancelDrafts {
		t.Fatalf("after a failed send: %+v", d)
	}
	d = Decide(thread(append(slices.Clone(failed), ev(HistoryUserResume, at(7.4)))...), at(7.4))
	if d.State != outreach.ThreadFollowUpDue || !d.ProposeDraft {
		t.Fatalf("resumed after a failed send: %+v, want a fresh draft proposed", d)
	}
	unsure := append(slices.Clone(hApproved), trouble("review", at(7.2)))
	if d := Decide(thread(unsure...), at(7.3)); d.State != outreach.ThreadNeedsReview || d.Rule != "send_unsure" {
		t.Fatalf("after a send that may have gone out: %+v", d)
	}
	if d := Decide(thread(append(slices.Clone(unsure), ev(HistoryFollowUpSent, at(7.5)))...), at(7.6)); d.State != outreach.ThreadFollowedUp {
		t.Fatalf("the copy turned up in Sent: %+v, want followed_up", d)
	}
}

// An email whose follow-up time passed long ago, found only now (a contact
// added after the sync, a Sent folder full of history), gets no follow-up:
// the thread closes as too late. A pause moves the window with it; a draft
// already proposed expires as before.
func TestDecideTooLateForAFollowUp(t *testing.T) {
	old := Decide(thread(ev(HistoryInitialSent, at(0))), at(365))
	if old.State != closedNR || old.ClosedReason != ClosedTooLate || old.ProposeDraft || old.Rule != "followup_too_late" ||
		!strings.Contains(old.Evidence, "too late") {
		t.Fatalf("a year-old email: %+v", old)
	}
	// Due at(7) in the send window; follow_up_window_days (14) later it is
	// too late.
	if d := Decide(thread(ev(HistoryInitialSent, at(0))), at(20.9)); d.State != due || !d.ProposeDraft {
		t.Fatalf("just within the window: %+v", d)
	}
	if d := Decide(thread(ev(HistoryInitialSent, at(0))), at(21)); d.State != closedNR || d.ClosedReason != ClosedTooLate {
		t.Fatalf("at the end of the window: %+v", d)
	}
	// No limit: the follow-up is proposed however late.
	th := thread(ev(HistoryInitialSent, at(0)))
	th.Policy.FollowUpWindowDays = 0
	if d := Decide(th, at(365)); d.State != due || !d.ProposeDraft {
		t.Fatalf("no window: %+v", d)
	}
	// Away until 06-20: due when the pause ends (plus the working days
	// after the return), and too late only five days after that.
	away := []HistoryItem{ev(HistoryInitialSent, at(0)), ooo(at(2), 2026, 6, 20)}
	if d := Decide(thread(away...), at(25)); d.State != due || !d.ProposeDraft {
		t.Fatalf("after an out-of-office: %+v", d)
	}
	if d := Decide(thread(away...), at(50)); d.State != closedNR || d.ClosedReason != ClosedTooLate {
		t.Fatalf("long after an out-of-office: %+v", d)
	}
	// A draft proposed on time and never approved still expires as such.
	if d := Decide(thread(hDraft...), at(30)); d.State != closedNR || d.ClosedReason != ClosedDraftExpiry {
		t.Fatalf("an unapproved draft: %+v", d)
	}
	// Once closed by the clock it stays closed: a later out-of-office
	// reply does not bring the follow-up back.
	late := []HistoryItem{ev(HistoryInitialSent, at(0)), ooo(at(30), 2026, 7, 10)}
	if d := Decide(thread(late...), at(80)); d.State != closedNR || d.ClosedReason != ClosedTooLate {
		t.Fatalf("an out-of-office after the close: %+v", d)
	}
}

// The applicant reopening and resuming an old thread opens the window
// again: a follow-up is proposed, not closed as too late.
func TestDecideResumeOpensTheFollowUpWindow(t *testing.T) {
	h := []HistoryItem{ev(HistoryInitialSent, at(0)), ev(HistoryUserClose, at(3)), ev(HistoryUserReopen, at(40)),
		ev(HistoryUserResume, at(40.1))}
	if d := Decide(thread(h...), at(40.2)); d.State != due || !d.ProposeDraft {
		t.Fatalf("resumed long after: %+v", d)
	}
	if d := Decide(thread(h...), at(60)); d.State != closedNR || d.ClosedReason != ClosedTooLate {
		t.Fatalf("resumed, then left for weeks: %+v", d)
	}
}
