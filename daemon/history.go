package daemon

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/rules"
	"github.com/outreach/outreach/store"
)

// classification is the part of a stored classification (package
// classify's Result as JSON) that the rules read.
type classification struct {
	Reason           string              `json:"reason"`
	Permanent        bool                `json:"permanent"`
	ReturnDate       string              `json:"return_date"` // YYYY-MM-DD
	FailedRecipients []string            `json:"failed_recipients"`
	Confidence       outreach.Confidence `json:"confidence"`
}

func parseClassification(raw []byte) classification {
	var c classification
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &c) // a broken record reads as unsure, which sends the thread to review
	}
	return c
}

// ruleThread turns what the store holds about a thread into the rules'
// view of it: its history, the recipient's zone, the policy in effect for
// this contact, and the cooldown after an earlier thread with them.
func ruleThread(in store.PlanInput, policy outreach.Policy) rules.Thread {
	pol := policy.With(in.Contact.Policy).Effective()
	loc := recipientZone(in)
	t := rules.Thread{ContactTZ: loc, Blocked: in.Contact.Blocked(), Policy: pol, History: history(in)}
	if in.LastClosedNoResponse != nil {
		end := rules.CooldownEnd(*in.LastClosedNoResponse, loc, pol)
		t.CooldownUntil = &end
	}
	return t
}

// recipientZone is the contact's time zone, else the account's, else UTC.
func recipientZone(in store.PlanInput) *time.Location {
	for _, name := range []string{in.Contact.Timezone, in.Account.Timezone} {
		if name == "" {
			continue
		}
		if loc, err := time.LoadLocation(name); err == nil {
			return loc
		}
	}
	return time.UTC
}

// history lists the thread's items: its messages (our own mail, the
// Outreach follow-up recognised by its Message-ID, what arrived), the
// drafts' lifecycle and the applicant's actions.
func history(in store.PlanInput) []rules.HistoryItem {
	ours := map[string]bool{}
	for _, d := range in.Drafts {
		ours[d.MessageID] = true
	}
	var out []rules.HistoryItem
	initial := initialMessage(in)
	for i, m := range in.Messages {
		it := rules.HistoryItem{At: m.Date}
		switch {
		case m.Direction == outreach.Outbound && i == initial:
			it.Kind = rules.HistoryInitialSent
		case m.Direction == outreach.Outbound && ours[m.MessageID]:
			// The copy in Sent of a follow-up Outreach sent: the follow-up,
			// even when the mailer died before recording it.
			it.Kind = rules.HistoryFollowUpSent
		case m.Direction == outreach.Outbound:
			it.Kind = rules.HistoryTouchOut
		default:
			it = inboundItem(m)
		}
		out = append(out, it)
	}
	copies := sentCopies(in)
	for _, e := range in.Events {
		if e.Type == "draft_sent" && copies[e.DraftID] {
			continue // its copy in Sent is the follow-up already: count it once
		}
		if it, ok := eventItem(e); ok {
			out = append(out, it)
		}
	}
	return out
}

// sentCopies are the drafts whose copy in Sent (or another mailbox) is one
// of the thread's messages, by Message-ID.
func sentCopies(in store.PlanInput) map[int64]bool {
	seen := map[string]bool{}
	for _, m := range in.Messages {
		if m.Direction == outreach.Outbound && m.MessageID != "" {
			seen[m.MessageID] = true
		}
	}
	out := map[int64]bool{}
	for _, d := range in.Drafts {
		if seen[d.MessageID] {
			out[d.ID] = true
		}
	}
	return out
}

// initialMessage is the index of the thread's first email: the one the
// thread started with, else our earliest; -1 when there is none.
func initialMessage(in store.PlanInput) int {
	first := -1
	for i, m := range in.Messages {
		if m.Direction != outreach.Outbound {
			continue
		}
		if m.MessageID != "" && m.MessageID == in.Thread.RootMessageID {
			return i
		}
		if first < 0 {
			first = i
		}
	}
	return first
}

func inboundItem(m store.HistoryMessage) rules.HistoryItem {
	it := rules.HistoryItem{At: m.Date, Kind: rules.HistoryInbound}
	if m.Kind == nil {
		return it // unclassified: the rules send it to review
	}
	c := parseClassification(m.Classification)
	it.MessageKind, it.Reason, it.Permanent, it.Confidence = *m.Kind, c.Reason, c.Permanent, c.Confidence
	if d, err := time.Parse(time.DateOnly, c.ReturnDate); err == nil {
		it.ReturnDate = &d // a calendar date, UTC midnight, as the rules expect
	}
	return it
}

// eventKinds maps history events to items.
var eventKinds = map[string]rules.HistoryKind{
	"draft_proposed": rules.HistoryDraftProposed, "draft_approved": rules.HistoryDraftApproved,
	"draft_rejected": rules.HistoryDraftRejected, "draft_expired": rules.HistoryDraftExpired,
	"draft_superseded": rules.HistoryDraftSuperseded, "draft_sent": rules.HistoryFollowUpSent,
	"user_pause": rules.HistoryUserPause, "user_resume": rules.HistoryUserResume,
	"user_close": rules.HistoryUserClose, "user_reopen": rules.HistoryUserReopen,
	"draft_failed": rules.HistorySendTrouble, "draft_review": rules.HistorySendTrouble,
}

func eventItem(e store.Event) (rules.HistoryItem, bool) {
	if e.Type == "draft_edited" {
		// An edit of an approved draft voids the approval: to the rules it
		// is a fresh proposal, waiting for approval again.
		return rules.HistoryItem{At: e.At, Kind: rules.HistoryDraftProposed}, e.FromState == string(outreach.DraftApproved)
	}
	k, ok := eventKinds[e.Type]
	if !ok {
		return rules.HistoryItem{}, false
	}
	it := rules.HistoryItem{At: e.At, Kind: k}
	if k == rules.HistoryDraftRejected && e.Detail["redraft"] == true {
		it.Kind = rules.HistoryDraftRedraft
	}
	if k == rules.HistorySendTrouble {
		it.Reason = strings.TrimPrefix(e.Type, "draft_") // failed or review
	}
	if s, ok := e.Detail["until"].(string); ok {
		if until, err := time.Parse(time.RFC3339, s); err == nil {
			it.Until = &until
		}
	}
	return it, true
}

// undeliverable names the contact's addresses a permanent bounce reported
// as failed; when the bounce names none of them, the address the thread
// wrote to.
func undeliverable(in store.PlanInput) []string {
	known := map[string]bool{}
	for _, a := range in.Contact.Addresses {
		known[strings.ToLower(a)] = true
	}
	var failed []string
	for _, m := range in.Messages {
		if m.Kind == nil || *m.Kind != outreach.MessageBounce {
			continue
		}
		c := parseClassification(m.Classification)
		if !c.Permanent {
			continue
		}
		for _, r := range c.FailedRecipients {
			if r = strings.ToLower(r); known[r] && !slices.Contains(failed, r) {
				failed = append(failed, r)
			}
		}
	}
	if len(failed) == 0 {
		if to := conversationAddress(in); to != "" {
			failed = []string{to}
		}
	}
	return failed
}

// conversationAddress is the contact's address our first email went to.
func conversationAddress(in store.PlanInput) string {
	known := map[string]bool{}
	for _, a := range in.Contact.Addresses {
		known[strings.ToLower(a)] = true
	}
	if i := initialMessage(in); i >= 0 {
		for _, to := range in.Messages[i].To {
			if known[strings.ToLower(to)] {
				return strings.ToLower(to)
			}
		}
	}
	return strings.ToLower(in.Contact.Email)
}
