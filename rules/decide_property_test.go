package rules

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	outreach "github.com/outreach/outreach"
)

// Property tests: random histories of every kind of item, checked at every
// prefix and at many instants. TestDecideRandomHistories runs 10,000
// seeded histories on every `go test`; TestDecideRapid runs rapid's default
// 100 and shrinks failures; for a deeper run:
//
//	go test ./rules -run TestDecideRapid -rapid.checks=10000

const randomHistories = 10_000

// source is the randomness a history generator draws from: a seeded PCG or
// rapid's shrinkable stream.
type source interface{ intn(n int) int }

type pcgSource struct{ r *rand.Rand }

func (s pcgSource) intn(n int) int { return s.r.IntN(n) }

type rapidSource struct{ t *rapid.T }

func (s rapidSource) intn(n int) int { return rapid.IntRange(0, n-1).Draw(s.t, "n") }

func pick[T any](s source, list ...T) T { return list[s.intn(len(list))] }

func chance(s source, percent int) bool { return s.intn(100) < percent }

// failer is what the checks need of *testing.T and *rapid.T.
type failer interface {
	Fatalf(format string, args ...any)
}

var randomZones = []*time.Location{time.UTC, newYork, berlin, tokyo, lagos,
	mustZone("America/Santiago"), mustZone("Asia/Kathmandu"), mustZone("Australia/Lord_Howe")}

func genPolicy(s source) outreach.Policy {
	p := outreach.DefaultPolicy()
	switch s.intn(6) {
	case 0:
		p.BusinessDays = true
		p.Holidays = []string{"2026-01-01", "2026-05-25", "2026-07-03", "2026-11-26", "2026-12-25", "2027-01-01"}
	case 1:
		p.FollowUpAfterDays, p.CloseAfterDays = 5+s.intn(10), 1+s.intn(21)
		p.DraftExpiresAfterDays, p.ResumeAfterReturnDays = 1+s.intn(7), s.intn(4)
		p.SendDays = []string{pick(s, "mon", "sat", "sun"), pick(s, "wed", "friday")}
		p.SendStart, p.SendEnd = pick(s, "00:00", "07:30", "09:00"), pick(s, "12:00", "23:59")
	case 2:
		return outreach.Policy{} // no configuration: the defaults
	case 3: // invalid keys: the rules fall back to their defaults
		p.FollowUpAfterDays, p.SendDays, p.SendEnd, p.Holidays = -3, []string{"noday"}, "07:00", []string{"someday"}
	}
	return p
}

// genThread builds a random thread. Half of the items follow what Decide
// asks for (a planner and an applicant acting on it), so that deep states
// are reached; the other half are anything at all.
func genThread(s source) Thread {
	th := Thread{ContactTZ: pick(s, randomZones...), Policy: genPolicy(s), Blocked: chance(s, 4)}
	cur := utc(2026, 1, 1, 0, 0).Add(time.Duration(s.intn(365*24*60)) * time.Minute)
	if chance(s, 8) {
		th.CooldownUntil = ptr(cur.Add(time.Duration(s.intn(60*24)) * time.Hour))
	}
	if chance(s, 92) {
		th.History = append(th.History, ev(HistoryInitialSent, cur))
	}
	for range s.intn(18) {
		cur = cur.Add(genGap(s))
		var it HistoryItem
		if chance(s, 50) {
			it = plannerItem(s, Decide(th, cur), cur)
		} else {
			it = randomItem(s, cur)
		}
		it.At = cur
		th.History = append(th.History, it)
	}
	return th
}

func genGap(s source) time.Duration {
	switch s.intn(6) {
	case 0:
		return 0
	case 1:
		return time.Duration(s.intn(180)) * time.Minute
	case 2:
		return time.Duration(s.intn(72)) * time.Hour
	case 3:
		return time.Duration(1+s.intn(15)) * 24 * time.Hour
	case 4:
		return time.Duration(s.intn(10)) * 7 * 24 * time.Hour
	}
	return -time.Duration(s.intn(72)) * time.Hour // out of order: Decide sorts
}

// plannerItem is what a planner, the mailer or the applicant would do next.
func plannerItem(s source, d Decision, cur time.Time) HistoryItem {
	switch {
	case d.CancelDrafts:
		return HistoryItem{Kind: HistoryDraftSuperseded}
	case d.ProposeDraft:
		return HistoryItem{Kind: HistoryDraftProposed}
	case d.State == outreach.ThreadDraftProposed && d.Rule == "draft_approved":
		return HistoryItem{Kind: pick(s, HistoryFollowUpSent, HistoryFollowUpSent, HistoryDraftRejected)}
	case d.State == outreach.ThreadDraftProposed:
		return HistoryItem{Kind: pick(s, HistoryDraftApproved, HistoryDraftApproved, HistoryDraftRejected,
			HistoryDraftRedraft, HistoryDraftExpired, HistoryTouchOut)}
	case d.State == outreach.ThreadNeedsReview || d.State == outreach.ThreadClosedByUser:
		return HistoryItem{Kind: pick(s, HistoryUserResume, HistoryUserReopen, HistoryUserClose)}
	}
	return randomItem(s, cur)
}

var allKinds = []HistoryKind{HistoryInitialSent, HistoryTouchOut, HistoryFollowUpSent, HistoryInbound,
	HistoryInbound, HistoryInbound, HistoryInbound, HistoryDraftProposed, HistoryDraftApproved, HistoryDraftRejected,
	HistoryDraftRedraft, HistoryDraftExpired, HistoryDraftSuperseded, HistoryUserPause, HistoryUserResume,
	HistoryUserClose, HistoryUserReopen, HistoryBlocked, "nonsense"}

func randomItem(s source, cur time.Time) HistoryItem {
	it := HistoryItem{Kind: pick(s, allKinds...)}
	switch it.Kind {
	case HistoryInbound:
		it.MessageKind = pick(s, append(slices.Clone(outreach.MessageKinds), outreach.MessageHuman,
			outreach.MessageAutoReply, outreach.MessageAutoReply, outreach.MessageBounce, "")...)
		it.Confidence = pick(s, outreach.Certain, outreach.Certain, outreach.Likely, outreach.Unsure, "")
		it.Reason = pick(s, "vacation", "vacation", "challenge", "ticket", "left", "other", "user_unknown")
		it.Permanent = chance(s, 50)
		if chance(s, 60) {
			it.ReturnDate = ptr(randomDate(s, cur))
		}
	case HistoryUserPause:
		if chance(s, 70) {
			it.Until = ptr(cur.Add(time.Duration(s.intn(40*24)-5*24) * time.Hour))
		}
	}
	return it
}

// randomDate is a return date near cur: a UTC calendar date, or midnight in
// some zone, sometimes already past.
func randomDate(s source, cur time.Time) time.Time {
	d := cur.AddDate(0, 0, s.intn(40)-5)
	loc := pick(s, randomZones...)
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
}

// checkThread checks every property of one random thread.
func checkThread(t failer, s source, th Thread) {
	h := sortedHistory(th.History)
	for k := range h {
		checkStep(t, th, h, k)
	}
	last := utc(2026, 1, 1, 0, 0)
	if len(h) > 0 {
		last = h[len(h)-1].At
	}
	for k := 1; k <= len(h); k++ {
		sub := th
		sub.History = h[:k]
		for _, now := range []time.Time{h[k-1].At, h[k-1].At.Add(time.Duration(s.intn(30*24)) * time.Hour)} {
			checkInvariants(t, sub, now, Decide(sub, now))
		}
	}
	for _, now := range []time.Time{last.Add(-400 * 24 * time.Hour), last.Add(5 * 365 * 24 * time.Hour)} {
		checkInvariants(t, th, now, Decide(th, now))
	}
	checkWalk(t, th, last)
	checkOrderFree(t, s, th, last)
}

// checkStep: one more item, decided when it arrives, moves the thread along
// an edge of outreach.ThreadTransitions (or not at all).
func checkStep(t failer, th Thread, h []HistoryItem, k int) {
	before, after := th, th
	before.History, after.History = h[:k], h[:k+1]
	now := h[k].At
	b, a := Decide(before, now), Decide(after, now)
	if !b.State.CanTransition(a.State) {
		t.Fatalf("adding %+v at %s: %s (%s) -> %s (%s): not in ThreadTransitions\nhistory %+v",
			h[k], now, b.State, b.Rule, a.State, a.Rule, h[:k+1])
	}
	if a.FollowUpsSent < b.FollowUpsSent {
		t.Fatalf("FollowUpsSent decreased adding %+v", h[k])
	}
}

// checkWalk: a planner that looks again at each NextActionAt sees only legal
// transitions, and nothing changes before NextActionAt.
func checkWalk(t failer, th Thread, now time.Time) {
	d := Decide(th, now)
	for range 12 {
		if d.NextActionAt == nil {
			if far := Decide(th, now.AddDate(10, 0, 0)); far.State != d.State {
				t.Fatalf("nothing scheduled at %s in %s, yet %s ten years later", now, d.State, far.State)
			}
			return
		}
		next := *d.NextActionAt
		if !next.After(now) {
			return // due now: the planner acts
		}
		if mid := Decide(th, now.Add(next.Sub(now)/2)); mid.State != d.State {
			t.Fatalf("%s at %s became %s before NextActionAt %s", d.State, now, mid.State, next)
		}
		nd := Decide(th, next)
		if !d.State.CanTransition(nd.State) {
			t.Fatalf("clock %s -> %s: %s (%s) -> %s (%s)\nhistory %+v", now, next, d.State, d.Rule, nd.State, nd.Rule, th.History)
		}
		d, now = nd, next
	}
}

// checkOrderFree: the same items in another order decide the same.
func checkOrderFree(t failer, s source, th Thread, now time.Time) {
	want := Decide(th, now)
	shuffled := th
	shuffled.History = slices.Clone(th.History)
	for i := len(shuffled.History) - 1; i > 0; i-- {
		j := s.intn(i + 1)
		shuffled.History[i], shuffled.History[j] = shuffled.History[j], shuffled.History[i]
	}
	if got := Decide(shuffled, now); !reflect.DeepEqual(got, want) {
		t.Fatalf("order matters:\n%+v\n%+v", got, want)
	}
	if again := Decide(th, now); !reflect.DeepEqual(again, want) {
		t.Fatalf("not deterministic")
	}
}

var validActions = map[outreach.ThreadState]string{
	outreach.ThreadAwaitingReply: ActionProposeFollowUp, outreach.ThreadFollowUpDue: ActionProposeFollowUp,
	outreach.ThreadDraftProposed: ActionExpireDraft, outreach.ThreadFollowedUp: ActionCloseNoResponse,
	outreach.ThreadPaused: ActionResume,
}

var validClosed = map[outreach.ThreadState][]string{
	outreach.ThreadClosedNoResponse: {ClosedNoResponse, ClosedDraftExpiry, ClosedTooLate},
	outreach.ThreadClosedByUser:     {ClosedByUser, ClosedDeclined},
}

// checkInvariants checks one decision against facts read straight from the
// history (an oracle independent of Decide's replay).
func checkInvariants(t failer, th Thread, now time.Time, d Decision) {
	o := readOracle(th)
	fail := func(what string) {
		t.Fatalf("%s\nnow %s decision %+v\nhistory %+v", what, now, d, sortedHistory(th.History))
	}
	switch {
	case !d.State.Valid() || d.Rule == "" || d.Evidence == "":
		fail("invalid state, or no rule or evidence")
	case d.FollowUpsSent != min(o.followUps, 1):
		fail("FollowUpsSent does not count the follow-ups and touches after the initial")
	case (d.NextAction == "") != (d.NextActionAt == nil):
		fail("NextAction and NextActionAt disagree")
	case d.NextActionAt != nil && (d.NextActionAt.Before(now) || validActions[d.State] != d.NextAction):
		fail("NextActionAt in the past, or an action foreign to the state")
	case (d.ClosedReason != "") != (validClosed[d.State] != nil) || (d.ClosedReason != "" && !slices.Contains(validClosed[d.State], d.ClosedReason)):
		fail("ClosedReason does not match the state")
	case d.PausedUntil != nil && (d.State != outreach.ThreadPaused || !d.PausedUntil.After(now)):
		fail("PausedUntil outside a pause")
	case d.State == outreach.ThreadDraftProposed && d.CancelDrafts:
		fail("cancels the draft it waits on")
	case o.draftOpen && d.State != outreach.ThreadDraftProposed && !d.CancelDrafts:
		fail("an open draft is left in place")
	case o.initial && o.humanReply && !slices.Contains([]outreach.ThreadState{outreach.ThreadReplied,
		outreach.ThreadClosedByUser, outreach.ThreadBlocked}, d.State):
		fail("a human replied, yet the thread is not replied")
	case o.initial && th.Blocked && d.State != outreach.ThreadBlocked:
		fail("a blocked contact's thread is not blocked")
	case o.initial && o.blockedItem && d.State != outreach.ThreadBlocked && d.State != outreach.ThreadClosedByUser:
		fail("a blocked thread left blocked")
	case (len(d.Warnings) > 0) != (o.initial && !o.humanReply && o.followUps >= 2):
		fail("over_contact warning wrong")
	}
	if d.ProposeDraft {
		checkProposal(fail, th, now, d, o)
	}
}

// checkProposal: the worst bug is a message that should not have gone out.
func checkProposal(fail func(string), th Thread, now time.Time, d Decision, o oracle) {
	dueAt := NextSendTime(AddDays(o.initialAt, th.Policy.Effective().FollowUpAfterDays, th.ContactTZ, th.Policy), th.ContactTZ, th.Policy)
	switch {
	case d.State != outreach.ThreadFollowUpDue:
		fail("proposes outside followup_due")
	case o.followUps > 0:
		fail("proposes a second follow-up")
	case o.humanReply || o.hardBounce || th.Blocked || o.blockedItem:
		fail("proposes after a reply, a bounce or a block")
	case o.openPause || o.openComplaint || o.awayAt(now):
		fail("proposes while paused or after a complaint")
	case o.draftOpen:
		fail("proposes with a draft open")
	case now.Before(dueAt) || (th.CooldownUntil != nil && now.Before(*th.CooldownUntil)):
		fail("proposes before the follow-up is due")
	}
}

// oracle is what the history says, read item by item without the replay.
type oracle struct {
	initial, humanReply, hardBounce, blockedItem bool
	initialAt                                    time.Time
	followUps                                    int
	openPause, openComplaint, draftOpen          bool
	awayUntil                                    []time.Time // return dates of out-of-office replies not resumed since
}

func readOracle(th Thread) oracle {
	var o oracle
	for _, it := range sortedHistory(th.History) {
		sure := it.Confidence == outreach.Certain || it.Confidence == outreach.Likely
		switch {
		case it.Kind == HistoryInitialSent && !o.initial:
			o.initial, o.initialAt = true, it.At
		case (it.Kind == HistoryInitialSent || it.Kind == HistoryTouchOut || it.Kind == HistoryFollowUpSent) && o.initial:
			o.followUps++
		case it.Kind == HistoryInbound && it.MessageKind == outreach.MessageHuman && sure:
			o.humanReply = true
		case it.Kind == HistoryInbound && it.MessageKind == outreach.MessageBounce && sure && it.Permanent:
			o.hardBounce = true
		case it.Kind == HistoryInbound && it.MessageKind == outreach.MessageComplaint:
			o.openComplaint = true
		case it.Kind == HistoryInbound && it.MessageKind == outreach.MessageAutoReply && it.ReturnDate != nil:
			o.awayUntil = append(o.awayUntil, *it.ReturnDate)
		case it.Kind == HistoryBlocked:
			o.blockedItem = true
		case it.Kind == HistoryUserPause && it.Until == nil:
			o.openPause = true
		case it.Kind == HistoryUserResume:
			o.openPause, o.openComplaint, o.awayUntil = false, false, nil
		}
		switch it.Kind {
		case HistoryDraftProposed:
			o.draftOpen = true
		case HistoryDraftRejected, HistoryDraftRedraft, HistoryDraftExpired, HistoryDraftSuperseded, HistoryFollowUpSent:
			o.draftOpen = false
		}
	}
	return o
}

// awayAt: an out-of-office reply names a return date more than two days
// after now (two days cover every zone's reading of the date).
func (o oracle) awayAt(now time.Time) bool {
	return slices.ContainsFunc(o.awayUntil, func(ret time.Time) bool { return ret.After(now.Add(48 * time.Hour)) })
}

// TestDecideRandomHistories checks randomHistories seeded histories, in
// parallel shards; history i is generated from PCG seed (2026, i) alone.
func TestDecideRandomHistories(t *testing.T) {
	n := randomHistories
	if testing.Short() {
		n /= 10
	}
	const shards = 4
	for shard := range shards {
		t.Run(fmt.Sprintf("shard%d", shard), func(t *testing.T) {
			t.Parallel()
			for i := shard; i < n; i += shards {
				s := pcgSource{rand.New(rand.NewPCG(2026, uint64(i)))}
				checkThread(numberedFailer{t, i}, s, genThread(s))
			}
		})
	}
}

// numberedFailer names the history that failed, to replay it alone.
type numberedFailer struct {
	t *testing.T
	i int
}

func (f numberedFailer) Fatalf(format string, args ...any) {
	f.t.Helper()
	f.t.Fatalf("history %d (PCG seed 2026, %d): "+format, append([]any{f.i, f.i}, args...)...)
}

func TestDecideRapid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := rapidSource{rt}
		checkThread(rt, s, genThread(s))
	})
}

// BenchmarkDecide measures decisions per second over realistic histories:
// threads driven by the planner, 0 to 17 items each.
func BenchmarkDecide(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	threads := make([]Thread, 1000)
	for i := range threads {
		threads[i] = genThread(pcgSource{r})
	}
	nows := make([]time.Time, len(threads))
	for i, th := range threads {
		nows[i] = utc(2026, 6, 1, 0, 0)
		if len(th.History) > 0 {
			nows[i] = sortedHistory(th.History)[len(th.History)-1].At.Add(36 * time.Hour)
		}
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		Decide(threads[i%len(threads)], nows[i%len(threads)])
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "decisions/s")
}
