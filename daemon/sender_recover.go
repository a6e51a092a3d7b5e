package daemon

import (
	"context"
	"fmt"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/imapsync"
	"github.com/outreach/outreach/store"
)

// recover finishes what a stopped sender left, after the run's sync pass:
// a draft in sending whose lease nobody holds is looked up by its
// Message-ID in the account's mailboxes (found: sent; not found: review,
// "may have been sent"); a draft in review that turned up is sent; a sent
// draft whose copy is not in Sent gets it, exactly once.
func (s *Sender) recover(ctx context.Context, mb *mailbox, a SendAccount, work []store.Unresolved, rep *SendReport) {
	for _, u := range work {
		if ctx.Err() != nil {
			return
		}
		it, ok, err := s.resolve(ctx, mb, a, u)
		if err != nil {
			s.logger().Warn("unfinished send not resolved; tried again on the next run", "draft", u.DraftID, "err", err)
			continue
		}
		if ok {
			it.Recovered = true
			rep.add(it)
		}
	}
}

// resolve settles one unfinished draft under its lease; ok is false when
// there was nothing to report (another sender holds it, or it is settled).
func (s *Sender) resolve(ctx context.Context, mb *mailbox, a SendAccount, u store.Unresolved) (SendItem, bool, error) {
	it := SendItem{Draft: u.DraftID, Thread: u.ThreadID, Account: a.Name, To: u.To}
	lease, ok, err := s.Store.LeaseDraft(ctx, u.DraftID)
	if err != nil || !ok {
		return it, false, err // in flight in another sender: it is alive
	}
	defer lease.Release()
	fate, err := s.Store.DraftFate(ctx, u.DraftID) // as it is now, under the lease
	if err != nil {
		return it, false, err
	}
	now := s.now()
	switch fate.State {
	case outreach.DraftSending, outreach.DraftReview:
		seen, err := s.Store.MessageIDSeen(ctx, a.ID, u.MessageID)
		if err != nil {
			return it, false, err
		}
		if fate.State == outreach.DraftSending {
			return s.resolveSending(ctx, it, u, seen, now)
		}
		if seen {
			return s.foundSent(ctx, it, u, now, "found in a mailbox after review: it was sent")
		}
	case outreach.DraftSent:
		if fate.SentCopy != store.CopyPending {
			break
		}
		how, err := s.finishCopy(ctx, mb, u, now)
		if err != nil {
			return it, false, err
		}
		it.Outcome, it.Reason = OutcomeSent, "its copy was not in Sent after a restart: "+how
		return it, true, nil
	}
	return it, false, nil
}

// resolveSending settles a draft whose sender stopped mid-send.
func (s *Sender) resolveSending(ctx context.Context, it SendItem, u store.Unresolved, seen bool, now time.Time) (SendItem, bool, error) {
	if seen {
		return s.foundSent(ctx, it, u, now, "found in the mailbox after a restart: the server had accepted it")
	}
	reason := "may have been sent: not found in Sent after a restart (the sender stopped while sending)"
	if err := s.Store.RecordReview(ctx, store.SendFailure{DraftID: u.DraftID, Now: now, Reason: reason}); err != nil {
		return it, false, err
	}
	s.logger().Error("follow-up MAY HAVE BEEN SENT: check the Sent folder and the recipient before doing anything",
		"draft", u.DraftID, "to", u.To, "reason", reason)
	it.Outcome, it.Reason = OutcomeReview, reason
	return it, true, nil
}

func (s *Sender) foundSent(ctx context.Context, it SendItem, u store.Unresolved, now time.Time, note string) (SendItem, bool, error) {
	if err := s.Store.RecordSent(ctx, store.SendDone{DraftID: u.DraftID, Now: now, Copy: store.CopyDone, Note: note}); err != nil {
		return it, false, err
	}
	s.logger().Info("follow-up resolved as sent", "draft", u.DraftID, "to", u.To, "note", note)
	it.Outcome, it.Reason = OutcomeSent, note
	return it, true, nil
}

// finishCopy appends a sent draft's stored message to Sent, unless the
// run's sync pass found it there already (appended before a crash).
func (s *Sender) finishCopy(ctx context.Context, mb *mailbox, u store.Unresolved, now time.Time) (string, error) {
	seen, err := s.Store.MessageIDSeen(ctx, mb.a.ID, u.MessageID, string(imapsync.RoleSent))
	if err != nil {
		return "", err
	}
	if seen {
		return "found there", s.Store.RecordCopy(ctx, u.DraftID, now, "found in Sent")
	}
	date := now
	if u.SendingAt != nil {
		date = *u.SendingAt
	}
	if err := mb.appendCopy(ctx, u.DraftID, u.Raw, date); err != nil {
		return "", err
	}
	mb.touchedSent = true // sync the copy at the end of the run
	return "appended", nil
}

// mailbox is the IMAP side of one account's run: one connection, dialled
// when first needed and again after a failure (imapsync: a Conn is not
// reused after an error).
type mailbox struct {
	s           *Sender
	a           SendAccount
	conn        *imapsync.Conn
	touchedSent bool // a follow-up went out or a copy was appended: Sent wants a pass
}

func (m *mailbox) open(ctx context.Context) (*imapsync.Conn, error) {
	if m.conn == nil {
		conn, err := imapsync.Dial(ctx, m.a.IMAP)
		if err != nil {
			return nil, fmt.Errorf("connect to %s:%d: %w", m.a.IMAP.Host, m.a.IMAP.Port, err)
		}
		m.conn = conn
	}
	return m.conn, nil
}

func (m *mailbox) drop() {
	if m.conn != nil {
		m.conn.Close()
		m.conn = nil
	}
}

func (m *mailbox) close() { m.drop() }

// refresh runs a sync pass (over the given roles; all when none) and
// threads what it stored.
func (m *mailbox) refresh(ctx context.Context, roles ...imapsync.Role) error {
	conn, err := m.open(ctx)
	if err != nil {
		return err
	}
	if _, err := m.s.Syncer.Pass(ctx, conn, m.a.Account, roles); err != nil {
		m.drop()
		return err
	}
	_, err = AttachPending(ctx, m.s.Store)
	return err
}

// appendCopy stores the sent message in the Sent mailbox (RFC 3501 section
// 6.3.11 APPEND, \Seen) and records it. The next sync knows the copy as our
// follow-up by its Message-ID.
func (m *mailbox) appendCopy(ctx context.Context, draftID int64, raw []byte, date time.Time) error {
	name, err := m.sentMailbox(ctx)
	if err != nil {
		return err
	}
	conn, err := m.open(ctx)
	if err != nil {
		return err
	}
	if _, err := conn.Append(ctx, name, raw, date); err != nil {
		m.drop()
		return fmt.Errorf("append to %s: %w", name, err)
	}
	return m.s.Store.RecordCopy(ctx, draftID, m.s.now(), "appended to "+name)
}

// sentMailbox is the name of the account's Sent mailbox, as the sync
// found it.
func (m *mailbox) sentMailbox(ctx context.Context) (string, error) {
	rows, err := m.s.Store.Mailboxes(ctx, m.a.ID)
	if err != nil {
		return "", err
	}
	for _, r := range rows {
		if r.Role == string(imapsync.RoleSent) {
			return r.Name, nil
		}
	}
	return "", outreach.Errorf(outreach.KindNotFound, "account %s has no Sent mailbox (none is marked \\Sent or has a usual name); "+
		"create one, or set sent_copy = \"provider\" when the provider files sent mail itself", m.a.Name)
}
