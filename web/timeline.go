package web

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
)

// timelineItem is one message or one decision in a thread's history.
type timelineItem struct {
	At    time.Time
	Kind  string // in, out, decision, you: how the item is drawn
	Title string
	Lines []string // the evidence, in words
	Rule  string
	Link  string // a draft the item is about
	order int    // messages before decisions recorded at the same instant
}

// timeline merges the thread's messages (with how each was classified and
// threaded) and its decision log, oldest first.
func (s *Server) timeline(ctx context.Context, threadID int64) ([]timelineItem, error) {
	msgs, err := s.cfg.Store.ThreadMessages(ctx, threadID)
	if err != nil {
		return nil, err
	}
	events, err := s.cfg.Store.Events(ctx, store.EventFilter{ThreadID: threadID})
	if err != nil {
		return nil, err
	}
	var items []timelineItem
	seen := map[string]bool{} // one item per message, though a copy may sit in two folders
	for _, m := range msgs {
		if m.MessageID != "" && seen[m.MessageID] {
			continue
		}
		seen[m.MessageID] = true
		items = append(items, messageItem(m))
	}
	for _, e := range events {
		if e.Type == "message_attached" {
			continue // the message's own item says how it was threaded
		}
		items = append(items, eventItem(e))
	}
	slices.SortStableFunc(items, func(a, b timelineItem) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return a.order - b.order
	})
	return items, nil
}

// classificationView is the part of a stored classification shown.
type classificationView struct {
	Reason     string   `json:"reason"`
	ReturnDate *string  `json:"return_date"`
	Confidence string   `json:"confidence"`
	Evidence   []string `json:"evidence"`
}

var messageTitles = map[outreach.MessageKind]string{
	outreach.MessageHuman:     "Reply from %s",
	outreach.MessageAutoReply: "Automatic reply from %s",
	outreach.MessageBounce:    "Delivery failure report (%s)",
	outreach.MessageDelay:     "Delivery delay warning (%s)",
	outreach.MessageReceipt:   "Read receipt from %s",
	outreach.MessageComplaint: "Spam complaint (%s)",
	outreach.MessageList:      "Mailing-list mail from %s",
	outreach.MessageNotice:    "Automatic notice from %s",
}

// messageTitle names an incoming message by what it is and who sent it.
func messageTitle(kind outreach.MessageKind, from string) string {
	if f, ok := messageTitles[kind]; ok {
		return fmt.Sprintf(f, from)
	}
	return "Message from " + from
}

func messageItem(m store.MessageInfo) timelineItem {
	it := timelineItem{Kind: "in", order: 0}
	if m.Date != nil {
		it.At = *m.Date
	}
	if m.Direction == string(outreach.Outbound) {
		it.Kind, it.Title = "out", "You wrote: "+m.Subject
	} else {
		kind := outreach.MessageKind("")
		if m.Kind != nil {
			kind = outreach.MessageKind(*m.Kind)
		}
		it.Title = messageTitle(kind, m.From)
		it.Lines = append(it.Lines, "Subject: "+m.Subject)
	}
	var c classificationView
	if len(m.Classification) > 0 && json.Unmarshal(m.Classification, &c) == nil && c.Confidence != "" {
		line := "Classified with " + c.Confidence + " confidence"
		if c.Reason != "" {
			line += " as " + strings.ReplaceAll(c.Reason, "_", " ")
		}
		if c.ReturnDate != nil {
			line += "; back on " + *c.ReturnDate
		}
		it.Lines = append(it.Lines, line)
		it.Lines = append(it.Lines, c.Evidence...)
	}
	if m.ThreadRule != "" {
		it.Lines = append(it.Lines, "Put in this thread by: "+strings.ReplaceAll(m.ThreadRule, "_", " "))
	}
	if m.ParseError != "" {
		it.Lines = append(it.Lines, "Could not be read fully: "+m.ParseError)
	}
	return it
}

func eventItem(e store.Event) timelineItem {
	it := timelineItem{At: e.At, Kind: "decision", Title: eventTitle(e), Rule: e.Rule, order: 1}
	if e.Actor == "user" {
		it.Kind = "you"
	}
	if e.DraftID != 0 {
		it.Link = draftLink(e.DraftID)
	}
	for _, key := range []string{"evidence", "closed_reason", "warning", "error", "note", "reason"} {
		if v, ok := e.Detail[key].(string); ok && v != "" {
			it.Lines = append(it.Lines, v)
		}
	}
	return it
}

// eventTitle says a decision in the applicant's words.
func eventTitle(e store.Event) string {
	d := e.DraftID
	switch e.Type {
	case "thread_started":
		return "Your first email started the thread"
	case "state_changed":
		return "Now: " + threadStateLabel(e.ToState)
	case "draft_proposed":
		return fmt.Sprintf("Follow-up draft #%d proposed for your approval", d)
	case "draft_approved":
		return fmt.Sprintf("You approved draft #%d (version %v)", d, e.Detail["version"])
	case "draft_rejected":
		if redraft, _ := e.Detail["redraft"].(bool); redraft {
			return fmt.Sprintf("You asked for a new draft instead of #%d", d)
		}
		return fmt.Sprintf("You chose not to follow up (draft #%d)", d)
	case "draft_edited":
		return fmt.Sprintf("You edited draft #%d (version %v to %v)", d, e.Detail["from_version"], e.Detail["to_version"])
	case "draft_superseded":
		return fmt.Sprintf("Draft #%d withdrawn", d)
	case "draft_expired":
		return fmt.Sprintf("Draft #%d expired without approval", d)
	case "draft_sent", "followup_sent":
		return "Follow-up sent"
	case "user_pause":
		if until, ok := e.Detail["until"].(string); ok {
			return "You paused the thread until " + until
		}
		return "You paused the thread"
	case "user_resume":
		return "You resumed the thread"
	case "user_close":
		return "You closed the thread"
	case "user_reopen":
		return "You reopened the thread"
	case "warning":
		return "Warning"
	case "draft_not_written":
		return "The follow-up could not be written"
	case "draft_failed":
		return "The follow-up could not be delivered"
	case "draft_review":
		return "The follow-up may have been sent: check your Sent mailbox"
	case "thread_blocked":
		return "Blocked: the contact is on your do-not-contact list"
	}
	s := strings.ReplaceAll(e.Type, "_", " ")
	return strings.ToUpper(s[:1]) + s[1:]
}
