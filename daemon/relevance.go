package daemon

import (
	"context"
	"strings"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/imapsync"
)

// relevance decides which messages get their skeleton fetched: from or to
// a contact, referring to a message that matters (stored with its
// skeleton, or a draft we sent: see store.KnownMessageIDs), automatic or
// report-shaped, or from a mailer-daemon. The messages held include those
// of the batch w is storing, not committed yet when the next batch is
// judged.
func (s *Syncer) relevance(w *batchWriter) imapsync.Relevant {
	return func(ctx context.Context, msgs []*imapsync.Message) ([]bool, error) {
		var addrs, ids []string
		for _, m := range msgs {
			addrs = append(addrs, m.From)
			addrs = append(addrs, m.To...)
			addrs = append(addrs, m.Cc...)
			ids = append(ids, m.InReplyTo...)
			ids = append(ids, m.References...)
		}
		known, err := s.Store.KnownAddresses(ctx, addrs)
		if err != nil {
			return nil, err
		}
		refs, err := s.Store.KnownMessageIDs(ctx, ids)
		if err != nil {
			return nil, err
		}
		held := func(id string) bool { return refs[id] || w.holds(id) }
		out := make([]bool, len(msgs))
		for i, m := range msgs {
			out[i] = anyIn(known, m.From, m.To, m.Cc) || anyHeld(held, m.InReplyTo, m.References) || automatic(m)
		}
		return out, nil
	}
}

// anyIn reports whether first or any address in lists is in set.
func anyIn(set map[string]bool, first string, lists ...[]string) bool {
	if set[first] {
		return true
	}
	for _, list := range lists {
		for _, x := range list {
			if set[x] {
				return true
			}
		}
	}
	return false
}

// anyHeld reports whether any Message-ID in lists is held.
func anyHeld(held func(string) bool, lists ...[]string) bool {
	for _, list := range lists {
		for _, id := range list {
			if id != "" && held(id) {
				return true
			}
		}
	}
	return false
}

// batchMessageIDs are the Message-IDs of the messages of a stored batch
// that matter (with a skeleton), for batchWriter.holds, as
// store.KnownMessageIDs counts them once the batch is committed.
func batchMessageIDs(msgs []outreach.Message) map[string]bool {
	ids := make(map[string]bool)
	for _, m := range msgs {
		if m.MessageID != "" && m.Raw != nil {
			ids[m.MessageID] = true
		}
	}
	return ids
}

// automatic reports whether a header looks machine-made: an auto-reply
// (RFC 3834, or Precedence: junk or auto_reply), a report (RFC 6522),
// a bounce's tell-tales, or a mailer-daemon.
// A list's or a bulk sender's mail (List-Id, RFC 2919; List-Unsubscribe,
// RFC 2369) is not, whatever else it says: newsletters and notifications
// often carry Auto-Submitted: auto-generated, and are no answer to the
// applicant's email (an auto-reply that reached us through a list answers
// the list). It still matters when it is from or to a contact, or refers
// to mail that matters.
func automatic(m *imapsync.Message) bool {
	if m.HeaderUnreadable() {
		return true // let classification look at the skeleton
	}
	local := strings.ToLower(m.From)
	if i := strings.IndexByte(local, '@'); i >= 0 {
		local = local[:i]
	}
	precedence := strings.ToLower(m.Get("Precedence"))
	switch {
	case local == "postmaster" || strings.Contains(strings.ToLower(m.Get("From")), "mailer-daemon"):
		// the address, or the name of "MAILER-DAEMON <>"
		return true
	case m.Get("List-Id") != "" || m.Get("List-Unsubscribe") != "":
		return false
	case precedence == "junk" || precedence == "auto_reply":
		return true // what some auto-responders set instead of Auto-Submitted (bulk: old lists too)
	case m.Get("Auto-Submitted") != "" && !strings.EqualFold(m.Get("Auto-Submitted"), "no"):
		return true
	case m.Get("X-Autoreply") != "" || m.Get("X-Autorespond") != "" || m.Get("X-Failed-Recipients") != "":
		return true
	case m.Get("X-Auto-Response-Suppress") != "" && m.Get("X-MS-Exchange-Inbox-Rules-Loop") != "":
		return true
	case strings.Contains(strings.ToLower(m.Get("Content-Type")), "multipart/report"):
		return true
	case m.Get("Return-Path") == "<>":
		return true
	}
	return false
}
