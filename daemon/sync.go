// Package daemon runs Outreach's long-lived loops: mailbox sync (with IDLE
// push), and later planning and sending. Loops find their work in the
// database and keep their state there, so a restart loses nothing; they
// stop when their context ends and take the clock as a parameter.
package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/classify"
	"github.com/outreach/outreach/imapsync"
	"github.com/outreach/outreach/store"
)

// Account is one configured account with its IMAP settings resolved.
type Account struct {
	ID    int64 // the accounts row
	Name  string
	Email string // the applicant's address in this account, lower-cased
	IMAP  imapsync.Account
	Extra []string // more folders to sync besides INBOX and Sent
}

// Syncer runs sync passes: IMAP in, the database out.
type Syncer struct {
	Store     *store.Store
	Log       *slog.Logger
	BatchSize int // UIDs per fetch range; 0 means imapsync's default
	// Progress, when set, hears about every stored batch (for a terminal).
	Progress func(Progress)
}

// Progress reports a sync pass under way.
type Progress struct {
	Account, Mailbox string
	Stored           int    // messages stored so far in this pass, all mailboxes
	HighestUID       uint32 // of the current mailbox
	UIDNext          uint32 // the server's, when known: HighestUID/UIDNext gauges the way left
}

// PassSummary is what one pass over one account did.
type PassSummary struct {
	Account   string           `json:"account"`
	Mailboxes []MailboxSummary `json:"mailboxes"`
	Stored    int              `json:"stored"`
	Duration  time.Duration    `json:"duration_ns"`
}

// MailboxSummary is one mailbox's share of a pass.
type MailboxSummary struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Stored   int    `json:"stored"`
	Expunged int    `json:"expunged"`
	Reset    bool   `json:"reset"`
}

// SyncOnce connects, runs one incremental pass over every mailbox of the
// account (INBOX, Sent and the extra folders) and disconnects. The account
// is marked degraded with the reason when the pass fails, and ok when it
// succeeds.
func (s *Syncer) SyncOnce(ctx context.Context, acct Account) (PassSummary, error) {
	conn, err := imapsync.Dial(ctx, acct.IMAP)
	if err != nil {
		return PassSummary{Account: acct.Name}, s.fail(ctx, acct, 0, fmt.Errorf("connect to %s:%d: %w", acct.IMAP.Host, acct.IMAP.Port, err))
	}
	defer conn.Close()
	return s.Pass(ctx, conn, acct, nil)
}

// Pass runs one pass on an open connection. only, when non-empty, limits it
// to those roles ("inbox", "sent").
func (s *Syncer) Pass(ctx context.Context, conn *imapsync.Conn, acct Account, only []imapsync.Role) (PassSummary, error) {
	start := time.Now()
	sum := PassSummary{Account: acct.Name}
	boxes, err := conn.Discover(ctx, acct.Extra)
	if err != nil {
		return sum, s.fail(ctx, acct, 0, fmt.Errorf("list mailboxes: %w", err))
	}
	for _, mb := range boxes {
		if len(only) > 0 && !containsRole(only, mb.Role) {
			continue
		}
		ms, err := s.syncMailbox(ctx, conn, acct, mb, &sum)
		sum.Mailboxes = append(sum.Mailboxes, ms)
		if err != nil {
			return sum, err
		}
	}
	sum.Duration = time.Since(start)
	if err := s.Store.SetAccountHealth(ctx, acct.ID, ""); err != nil {
		return sum, err
	}
	return sum, nil
}

func containsRole(roles []imapsync.Role, r imapsync.Role) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}

func (s *Syncer) syncMailbox(ctx context.Context, conn *imapsync.Conn, acct Account, mb imapsync.Mailbox, sum *PassSummary) (MailboxSummary, error) {
	ms := MailboxSummary{Name: mb.Name, Role: string(mb.Role)}
	row, err := s.Store.EnsureMailbox(ctx, acct.ID, mb.Name, string(mb.Role))
	if err != nil {
		return ms, err
	}
	opts := imapsync.SyncOptions{BatchSize: s.BatchSize, Relevant: s.relevance(acct)}
	emit := func(b imapsync.Batch) error {
		res, err := s.Store.SaveSyncBatch(ctx, toStoreBatch(row.ID, acct, b))
		if err != nil {
			return err
		}
		ms.Stored += len(res.Inserted)
		ms.Expunged += res.Expunged
		ms.Reset = ms.Reset || b.Reset
		sum.Stored += len(res.Inserted)
		if s.Progress != nil {
			s.Progress(Progress{Account: acct.Name, Mailbox: mb.Name, Stored: sum.Stored,
				HighestUID: b.Cursor.HighestUID, UIDNext: b.Cursor.UIDNext})
		}
		return nil
	}
	if _, err := conn.Sync(ctx, mb.Name, toSyncCursor(row.Cursor), opts, emit); err != nil {
		return ms, s.fail(ctx, acct, row.ID, fmt.Errorf("sync %s: %w", mb.Name, err))
	}
	return ms, nil
}

// fail records why an account (and mailbox) is degraded and returns err.
// The cause is kept for errors.Is; its text is what `outreach status` shows.
func (s *Syncer) fail(ctx context.Context, acct Account, mailboxID int64, err error) error {
	if ctx.Err() != nil {
		return err // shutting down: nothing is wrong with the account
	}
	// A fresh context: the record must be written even as the pass fails.
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if mailboxID != 0 {
		if merr := s.Store.MarkMailboxError(wctx, mailboxID, err.Error()); merr != nil {
			err = errors.Join(err, merr)
		}
	}
	if aerr := s.Store.SetAccountHealth(wctx, acct.ID, err.Error()); aerr != nil {
		err = errors.Join(err, aerr)
	}
	s.logger().Warn("sync failed; account degraded", "account", acct.Name, "err", err)
	return err
}

func (s *Syncer) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func toSyncCursor(c store.Cursor) imapsync.Cursor {
	return imapsync.Cursor{UIDValidity: c.UIDValidity, UIDNext: c.UIDNext, HighestUID: c.HighestUID,
		HighestModSeq: c.HighestModSeq, Messages: c.Messages}
}

func toStoreBatch(mailboxID int64, acct Account, b imapsync.Batch) store.SyncBatch {
	sb := store.SyncBatch{MailboxID: mailboxID, Reset: b.Reset, UIDValidity: b.UIDValidity, Final: b.Final,
		Cursor: store.Cursor{UIDValidity: b.Cursor.UIDValidity, UIDNext: b.Cursor.UIDNext,
			HighestUID: b.Cursor.HighestUID, HighestModSeq: b.Cursor.HighestModSeq, Messages: b.Cursor.Messages}}
	for _, m := range b.Messages {
		sb.Messages = append(sb.Messages, classified(m, b.UIDValidity, acct))
	}
	if b.Present != nil {
		sb.Present = uidRanges(b.Present)
	}
	return sb
}

func toMessage(m *imapsync.Message, uidValidity uint32, acct Account) outreach.Message {
	dir := outreach.Inbound
	if m.From == acct.Email {
		dir = outreach.Outbound
	}
	return outreach.Message{UIDValidity: uidValidity, UID: m.UID, MessageID: m.MessageID, InReplyTo: m.InReplyTo,
		References: m.References, From: m.From, FromName: m.FromName, To: m.To, Cc: m.Cc, Subject: m.Subject,
		Date: m.Date, InternalDate: m.InternalDate, Size: m.Size, Direction: dir, ParseError: m.ParseError,
		Flags: m.Flags, Header: m.Header, Raw: m.Raw}
}

func uidRanges(set *imap.UIDSet) [][2]uint32 {
	var out [][2]uint32
	for _, r := range *set {
		stop := r.Stop
		if stop == 0 { // "*": the highest UID; a present set is concrete, but be safe
			stop = ^imap.UID(0)
		}
		out = append(out, [2]uint32{uint32(r.Start), uint32(stop)})
	}
	return out
}

// relevance decides which messages get their skeleton fetched: from or to
// a contact, referring to a Message-ID we hold, automatic or report-shaped,
// or from a mailer-daemon.
func (s *Syncer) relevance(acct Account) imapsync.Relevant {
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
		out := make([]bool, len(msgs))
		for i, m := range msgs {
			out[i] = anyIn(known, append(append([]string{m.From}, m.To...), m.Cc...)) ||
				anyIn(refs, append(append([]string(nil), m.InReplyTo...), m.References...)) ||
				automatic(m)
		}
		return out, nil
	}
}

func anyIn(set map[string]bool, list []string) bool {
	for _, x := range list {
		if set[x] {
			return true
		}
	}
	return false
}

// automatic reports whether a header looks machine-made: an auto-reply
// (RFC 3834), a report (RFC 6522), a bounce's tell-tales, or a mailer-daemon.
func automatic(m *imapsync.Message) bool {
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(m.Header))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return true // unreadable: let classification look at the skeleton
	}
	local := strings.ToLower(m.From)
	if i := strings.IndexByte(local, '@'); i >= 0 {
		local = local[:i]
	}
	switch {
	case local == "mailer-daemon" || local == "postmaster":
		return true
	case h.Get("Auto-Submitted") != "" && !strings.EqualFold(strings.TrimSpace(h.Get("Auto-Submitted")), "no"):
		return true
	case h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != "" || h.Get("X-Failed-Recipients") != "":
		return true
	case h.Get("X-Auto-Response-Suppress") != "" && h.Get("X-MS-Exchange-Inbox-Rules-Loop") != "":
		return true
	case strings.Contains(strings.ToLower(h.Get("Content-Type")), "multipart/report"):
		return true
	case strings.TrimSpace(h.Get("Return-Path")) == "<>":
		return true
	}
	return false
}

// classified converts a fetched message, classifying it when its skeleton
// was fetched: the result is stored with the message, in the same
// transaction. The applicant's own mail is a touch, never classified.
func classified(m *imapsync.Message, uidValidity uint32, acct Account) outreach.Message {
	msg := toMessage(m, uidValidity, acct)
	if m.Raw == nil || msg.Direction == outreach.Outbound {
		return msg
	}
	res := classify.Classify(m.Raw)
	if detail, err := json.Marshal(res); err == nil {
		msg.Kind, msg.Classification = res.Kind, detail
	}
	return msg
}
