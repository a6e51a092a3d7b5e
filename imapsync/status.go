package imapsync

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Status is what STATUS reports about a mailbox (RFC 3501 section 6.3.10;
// HIGHESTMODSEQ with CONDSTORE, RFC 7162 section 3.1.6).
type Status struct {
	Mailbox       string
	UIDValidity   uint32 // 0: the server did not answer for this mailbox
	UIDNext       uint32
	Messages      uint32
	HighestModSeq uint64
}

// Survey returns the mailboxes to sync (see Discover; only those of the
// given roles, when any are given) and the STATUS of each, so that a pass
// selects only the mailboxes that changed. STATUS INBOX is sent with the
// LIST, before it, and the others together after it (RFC 9051 section
// 5.5): three round trips become two, and Dovecot answers a STATUS of a
// large INBOX several times faster before a LIST "*" than after one.
func (c *Conn) Survey(ctx context.Context, extra []string, roles []Role) ([]Mailbox, []Status, error) {
	var inbox *imapclient.StatusCommand
	if wanted(roles, RoleInbox) {
		inbox = c.startStatus("INBOX")
	}
	all, err := c.Discover(ctx, extra)
	if err != nil {
		return nil, nil, err
	}
	boxes := withRoles(all, roles)
	names := make([]string, len(boxes))
	early := -1 // the mailbox the STATUS sent with the LIST answers
	for i, mb := range boxes {
		names[i] = mb.Name
		if inbox != nil && mb.Name == "INBOX" {
			names[i], early = "", i
		}
	}
	statuses, err := c.Statuses(ctx, names)
	if err != nil {
		return nil, nil, err
	}
	if early >= 0 {
		if statuses[early], err = c.waitStatus(ctx, "INBOX", inbox); err != nil {
			return nil, nil, err
		}
	}
	return boxes, statuses, nil
}

// wanted reports whether role is among roles, or roles is empty.
func wanted(roles []Role, role Role) bool {
	return len(roles) == 0 || slices.Contains(roles, role)
}

// withRoles keeps the mailboxes of the given roles; all when none is given.
func withRoles(boxes []Mailbox, roles []Role) []Mailbox {
	if len(roles) == 0 {
		return boxes
	}
	var out []Mailbox
	for _, mb := range boxes {
		if slices.Contains(roles, mb.Role) {
			out = append(out, mb)
		}
	}
	return out
}

// statusOptions are the STATUS items Unchanged compares.
func (c *Conn) statusOptions() *imap.StatusOptions {
	return &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, HighestModSeq: c.condStore}
}

// startStatus sends STATUS for name unless it is the selected mailbox
// (RFC 9051 section 6.3.11: STATUS SHOULD NOT be used on it, so it gets a
// SELECT instead) or the connection is unusable; nil then.
func (c *Conn) startStatus(name string) *imapclient.StatusCommand {
	if c.brokenErr() != nil || name == "" {
		return nil
	}
	if mb := c.client.Mailbox(); mb != nil && mb.Name == name {
		return nil
	}
	return c.client.Status(name, c.statusOptions())
}

// waitStatus waits for cmd's answer (a zero Status for a nil cmd). A
// refusal (NO or BAD) is a zero Status too: the SELECT will tell.
func (c *Conn) waitStatus(ctx context.Context, name string, cmd *imapclient.StatusCommand) (Status, error) {
	st := Status{Mailbox: name}
	if cmd == nil {
		return st, nil
	}
	err := c.run(ctx, "STATUS "+name, func() error {
		data, err := cmd.Wait()
		var refused *imap.Error
		switch {
		case errors.As(err, &refused):
			return nil
		case err != nil:
			return err
		}
		st = statusOf(name, data)
		return nil
	})
	return st, err
}

// Statuses asks STATUS for each mailbox, every command sent before the
// first answer is awaited (RFC 9051 section 5.5). A mailbox the server did
// not describe, the selected mailbox and an empty name come back with
// UIDValidity 0.
func (c *Conn) Statuses(ctx context.Context, names []string) ([]Status, error) {
	cmds := make([]*imapclient.StatusCommand, len(names))
	for i, name := range names {
		cmds[i] = c.startStatus(name)
	}
	out := make([]Status, len(names))
	for i, name := range names {
		st, err := c.waitStatus(ctx, name, cmds[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[i] = st
	}
	return out, nil
}

// statusOf converts the library's answer; a missing count makes the
// status unusable.
func statusOf(name string, d *imap.StatusData) Status {
	if d == nil || d.NumMessages == nil {
		return Status{Mailbox: name}
	}
	return Status{Mailbox: name, UIDValidity: d.UIDValidity, UIDNext: uint32(d.UIDNext),
		Messages: *d.NumMessages, HighestModSeq: d.HighestModSeq}
}

// Unchanged reports whether st shows the mailbox as cur left it, by the
// test Sync applies after SELECT: a pass would fetch nothing, find nothing
// expunged and store the same cursor.
func (c *Conn) Unchanged(cur Cursor, st Status) bool {
	return st.UIDValidity != 0 && sameState(cur, st.UIDValidity, st.UIDNext, st.Messages, st.HighestModSeq, c.condStore)
}

// sameState is the no-change test: same UIDVALIDITY, UIDNEXT, message
// count and, with CONDSTORE, HIGHESTMODSEQ (so flag changes count too).
func sameState(in Cursor, uidValidity, uidNext, messages uint32, modSeq uint64, condStore bool) bool {
	same := in.UIDValidity == uidValidity && in.UIDNext != 0 && in.UIDNext == uidNext && in.Messages == messages
	return same && (!condStore || in.HighestModSeq == modSeq)
}
