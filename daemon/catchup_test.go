package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	netmail "net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/classify"
	"github.com/outreach/outreach/imapsync"
	"github.com/outreach/outreach/internal/dovecot"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

// Messages stored without their skeleton get it once they matter: a reply
// from another address synced from INBOX before our email was synced from
// Sent (same pass), and mail to or from a contact added after the sync.
// A message the server no longer has is marked, not asked for again.
func TestDovecotCatchUpSkeletons(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dovecot.ForTest(t)
	st := storetest.New(t, nil)
	acct := newAccount(t, st, srv.Host, srv.Port)
	const lee, gone = "lee@uro.example.edu", "gone@elsewhere.example"
	if err := srv.Deliver("INBOX",
		mail("office@med.example.edu", applicant, "RE: Research opportunity", "coord@med.example.edu",
			"In-Reply-To: <orig@example.org>"),
		mail(lee, applicant, "Re: Observership", "lee-1@uro.example.edu", "In-Reply-To: <obs@example.org>"),
		mail("friend@example.net", applicant, "Dinner", "dinner@example.net"),
		mail(gone, applicant, "Hello", "hello@elsewhere.example")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Deliver("Sent",
		mail(applicant, professor, "Research opportunity", "orig@example.org"),
		mail(applicant, lee, "Observership", "obs@example.org")); err != nil {
		t.Fatal(err)
	}
	s := &Syncer{Store: st}
	withSkeleton := func(id string) bool {
		t.Helper()
		return rowCount(t, st, "m.message_id = $1 AND m.raw IS NOT NULL", id) == 1
	}

	sum, err := s.SyncOnce(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stored != 6 || sum.CaughtUp != 1 {
		t.Fatalf("first pass stored %d and caught up %d, want 6 and 1 (the coordinator's reply)", sum.Stored, sum.CaughtUp)
	}
	if !withSkeleton("coord@med.example.edu") || rowCount(t, st, "m.message_id = 'coord@med.example.edu' AND m.kind = 'human'") != 1 {
		t.Fatal("the coordinator's reply, synced before our email, has no skeleton or was not classified human")
	}
	for _, id := range []string{"lee-1@uro.example.edu", "obs@example.org", "dinner@example.net", "hello@elsewhere.example"} {
		if withSkeleton(id) {
			t.Errorf("%s has a skeleton, but it does not matter yet", id)
		}
	}
	if _, err := AttachPending(ctx, st); err != nil {
		t.Fatal(err)
	}
	if n := rowCount(t, st, `m.message_id = 'coord@med.example.edu' AND m.thread_id = (SELECT thread_id FROM messages
		WHERE message_id = 'orig@example.org') AND m.thread_rule = 'refers_to'`); n != 1 {
		t.Fatal("the coordinator's reply is not in the thread of our email")
	}

	// A contact added after the sync: their mail is caught up on the next
	// pass, both ways, though no mailbox changed.
	addContact(t, st, lee)
	if sum, err = s.SyncOnce(ctx, acct); err != nil || sum.Stored != 0 || sum.CaughtUp != 2 {
		t.Fatalf("after adding a contact: stored %d, caught up %d (%v), want 0 and 2", sum.Stored, sum.CaughtUp, err)
	}
	if !withSkeleton("lee-1@uro.example.edu") || !withSkeleton("obs@example.org") || withSkeleton("dinner@example.net") {
		t.Fatal("the new contact's mail was not caught up, or other mail was")
	}
	if _, err := AttachPending(ctx, st); err != nil {
		t.Fatal(err)
	}
	if n := rowCount(t, st, `m.message_id = 'lee-1@uro.example.edu' AND m.thread_id IS NOT NULL`); n != 1 {
		t.Fatal("the new contact's reply is in no thread")
	}
	if sum, err = s.SyncOnce(ctx, acct); err != nil || sum.CaughtUp != 0 {
		t.Fatalf("nothing changed: caught up %d (%v), want 0", sum.CaughtUp, err)
	}

	// The server no longer has the message (gone between the sync and the
	// catch-up: here its row points at a UID the server never had).
	exec(t, st, `UPDATE messages SET uid = 9999 WHERE message_id = 'hello@elsewhere.example'`)
	addContact(t, st, gone)
	if sum, err = s.SyncOnce(ctx, acct); err != nil || sum.CaughtUp != 0 {
		t.Fatalf("a message the server lost: caught up %d (%v), want 0 and no error", sum.CaughtUp, err)
	}
	if n := rowCount(t, st, "m.message_id = 'hello@elsewhere.example' AND m.skeleton_missing AND m.raw IS NULL"); n != 1 {
		t.Fatal("the lost message is not marked skeleton_missing")
	}
	var due int64
	if due, err = st.SkeletonsDue(ctx, acct.ID); err != nil || due != 0 {
		t.Fatalf("catch-up still due (%d, %v) after a complete one", due, err)
	}
}

func addContact(t *testing.T, st *store.Store, addr string) {
	t.Helper()
	if _, err := st.ImportContacts(context.Background(), store.ImportRequest{Columns: []string{"email"},
		Rows: []outreach.ContactRow{{Line: 2, Contact: outreach.Contact{Email: addr, Addresses: []string{addr}}}}}); err != nil {
		t.Fatal(err)
	}
}

// A NUL byte that reaches the classification (a malformed header quoted as
// evidence) must not make the batch unstorable: jsonb refuses \u0000.
func TestClassificationJSONWithoutNUL(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	res := classify.Result{Kind: outreach.MessageHuman, Evidence: []string{"subject \x00 odd", `literal \u0000 text`},
		RefersTo: []string{"a\x00b@example.org"}, FailedRecipients: []string{}}
	b, err := classificationJSON(res)
	if err != nil {
		t.Fatal(err)
	}
	var back classify.Result
	if err := st.DB().Get(&b, `SELECT $1::text::jsonb::text`, string(b)); err != nil {
		t.Fatalf("PostgreSQL refuses the classification: %v", err)
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Evidence[0] != "subject \ufffd odd" || back.Evidence[1] != `literal \u0000 text` || back.RefersTo[0] != "a\ufffdb@example.org" {
		t.Fatalf("stored %q %q, want the NUL replaced by U+FFFD", back.Evidence[0], back.RefersTo[0])
	}
}

// The relevance check's idea of machine-made mail, from the phase-1 header.
func TestAutomatic(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		header string
		want   bool
	}{
		{"From: Wei Chen <chen@med.example.edu>\r\nSubject: Re: Research\r\n", false},
		{"From: chen@med.example.edu\r\nAuto-Submitted: auto-replied\r\n", true},
		{"From: chen@med.example.edu\r\nAuto-Submitted:  No \r\n", false},
		{"From: chen@med.example.edu\r\nX-Autoreply: yes\r\n", true},
		{"From: chen@med.example.edu\r\nX-Auto-Response-Suppress: All\r\n", false},
		{"From: chen@med.example.edu\r\nX-Auto-Response-Suppress: All\r\nX-MS-Exchange-Inbox-Rules-Loop: chen@med.example.edu\r\n", true},
		{"From: postmaster@med.example.edu\r\n", true},
		{"From: MAILER-DAEMON@mx.example.edu\r\n", true},
		{"From: x@example.org\r\nContent-Type: multipart/report;\r\n report-type=delivery-status; boundary=b\r\n", true},
		{"From: x@example.org\r\nReturn-Path: <>\r\n", true},
		// A newsletter or notification (RFC 2369, RFC 2919), even marked
		// auto-generated or with an empty return path, is not an answer.
		{"From: Team <noreply@news.example.com>\r\nList-Unsubscribe: <mailto:unsub@news.example.com>\r\n" +
			"Precedence: bulk\r\nAuto-Submitted: auto-generated\r\n", false},
		{"From: someone@list.example\r\nList-Id: Dev <dev.list.example>\r\nAuto-Submitted: auto-replied\r\n" +
			"Return-Path: <>\r\n", false},
		// A mailer-daemon's report is one, list headers or not.
		{"From: MAILER-DAEMON@mx.example.edu\r\nList-Id: Dev <dev.list.example>\r\n", true},
		// vacation(1) replies with Precedence: bulk: no list header, still an auto-reply.
		{"From: chen@med.example.edu\r\nPrecedence: bulk\r\nAuto-Submitted: auto-replied\r\n", true},
		// Auto-responders without RFC 3834 mark their replies Precedence:
		// junk; bulk alone is old mailing lists' mark too.
		{"From: chen@med.example.edu\r\nPrecedence: junk\r\n", true},
		{"From: chen@med.example.edu\r\nPrecedence: bulk\r\n", false},
		// A bounce whose From has a name and an empty address.
		{"From: MAILER-DAEMON <>\r\nSubject: Mail delivery failed\r\n", true},
		{"\x00\x01 not a header at all\r\n", true},
	} {
		m := imapsync.MessageFromHeader([]byte(c.header + "\r\n"))
		if got := automatic(m); got != c.want {
			t.Errorf("automatic(%q) = %v, want %v", c.header, got, c.want)
		}
	}
}

// A pass only reads (EXAMINE): new mail keeps its \Recent flag for the
// applicant's own mail client (RFC 3501 section 2.3.2).
func TestDovecotPassLeavesRecentMailRecent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dovecot.ForTest(t)
	st := storetest.New(t, nil)
	acct := newAccount(t, st, srv.Host, srv.Port)
	if err := srv.Deliver("INBOX", replies(3, "r")...); err != nil {
		t.Fatal(err)
	}
	if sum, err := (&Syncer{Store: st}).SyncOnce(ctx, acct); err != nil || sum.Stored != 3 {
		t.Fatalf("stored %d (%v), want 3", sum.Stored, err)
	}
	c, err := imapclient.DialInsecure(fmt.Sprintf("%s:%d", srv.Host, srv.Port), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(dovecot.User, dovecot.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	recent := 0
	for _, m := range msgs {
		for _, f := range m.Flags {
			if strings.EqualFold(string(f), `\Recent`) {
				recent++
			}
		}
	}
	if sel.NumMessages != 3 || recent != 3 {
		t.Fatalf("after a pass, %d of %d messages are \\Recent, want all 3", recent, sel.NumMessages)
	}
}

// Only a reference to mail that matters (stored with a skeleton) makes a
// reply matter: a reply within a mailing-list discussion is kept
// headers-only, and so is a reply to the applicant's own email to someone
// who is not a contact, synced in a pass after it; a reply from another
// address to the professor's email, or to ours to the professor, is not.
// An auto-reply from anyone may concern our email and gets its skeleton; a
// newsletter marked auto-generated does not.
func TestDovecotRepliesMatterOnlyToMailThatMatters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dovecot.ForTest(t)
	st := storetest.New(t, nil)
	acct := newAccount(t, st, srv.Host, srv.Port)
	const lee = "lee@uro.example.edu"
	if err := srv.Deliver("INBOX",
		mail("someone@list.example", applicant, "[dev] release plans", "m1@list.example"),
		mail(professor, applicant, "Re: Research opportunity", "p1@med.example.edu")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Deliver("Sent",
		mail(applicant, professor, "Research opportunity", "orig@example.org"),
		mail(applicant, lee, "Observership", "obs@example.org")); err != nil {
		t.Fatal(err)
	}
	s := &Syncer{Store: st}
	if _, err := s.SyncOnce(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if err := srv.Deliver("INBOX",
		mail("other@list.example", applicant, "Re: [dev] release plans", "m2@list.example", "In-Reply-To: <m1@list.example>"),
		mail("office@med.example.edu", applicant, "RE: Research opportunity", "o1@med.example.edu",
			"In-Reply-To: <p1@med.example.edu>"),
		mail("office@med.example.edu", applicant, "RE: Research opportunity", "o2@med.example.edu",
			"In-Reply-To: <orig@example.org>"),
		mail(lee, applicant, "Re: Observership", "lee-1@uro.example.edu", "In-Reply-To: <obs@example.org>"),
		mail("noreply@news.example.com", applicant, "This week in urology", "nl@news.example.com",
			"Auto-Submitted: auto-generated", "List-Unsubscribe: <mailto:unsub@news.example.com>", "Precedence: bulk"),
		mail("away@uro.example.edu", applicant, "Out of office", "ooo@uro.example.edu",
			"Auto-Submitted: auto-replied")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SyncOnce(ctx, acct); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"m1@list.example": false, "m2@list.example": false,
		"p1@med.example.edu": true, "o1@med.example.edu": true, "orig@example.org": true, "o2@med.example.edu": true,
		"obs@example.org": false, "lee-1@uro.example.edu": false,
		"nl@news.example.com": false, "ooo@uro.example.edu": true} {
		if got := rowCount(t, st, "m.message_id = $1 AND m.raw IS NOT NULL", id) == 1; got != want {
			t.Errorf("%s stored with a skeleton: %v, want %v", id, got, want)
		}
	}
}

// A reply the spam filter put in Junk is synced and stops the follow-up:
// Junk is found by name (Dovecot here gives it no \Junk attribute).
func TestDovecotReplyInJunkStopsTheFollowUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dovecot.ForTest(t)
	st := storetest.New(t, nil)
	acct := newAccount(t, st, srv.Host, srv.Port)
	if err := srv.Deliver("Sent", mail(applicant, professor, "Research opportunity", "orig@example.org")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Deliver("Junk", replies(1, "spam")...); err != nil {
		t.Fatal(err)
	}
	sum, err := (&Syncer{Store: st}).SyncOnce(ctx, acct)
	if err != nil || sum.Stored != 2 {
		t.Fatalf("stored %d (%v), want 2", sum.Stored, err)
	}
	if n := rowCount(t, st, "b.role = 'junk' AND b.name = 'Junk' AND m.kind = 'human'"); n != 1 {
		t.Fatalf("%d human replies synced from Junk, want 1: %+v", n, sum)
	}
	if _, err := AttachPending(ctx, st); err != nil {
		t.Fatal(err)
	}
	// Now (the emails are dated 2026-11-02, so the follow-up is due).
	p := &Planner{Store: st, Policy: outreach.DefaultPolicy()}
	if _, err := p.Tick(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	var state string
	if err := st.DB().Get(&state, `SELECT state FROM threads`); err != nil || state != string(outreach.ThreadReplied) {
		t.Fatalf("thread %q (%v), want replied", state, err)
	}

	// skip_junk leaves it out.
	st2 := storetest.New(t, nil)
	acct2 := newAccount(t, st2, srv.Host, srv.Port)
	acct2.IMAP.SkipJunk = true
	if sum, err := (&Syncer{Store: st2}).SyncOnce(ctx, acct2); err != nil || len(sum.Mailboxes) != 2 {
		t.Fatalf("with skip_junk: %+v (%v), want INBOX and Sent only", sum, err)
	}
}

// Every bounce and auto-reply of the labelled corpus counts as automatic
// from phase 1's fields alone, so it gets its skeleton whoever sent it, or
// refers to a message, so it gets one when that message matters; list
// mail, which is no answer to anyone, is not automatic.
func TestAutomaticOnTheCorpus(t *testing.T) {
	t.Parallel()
	rows, err := os.ReadFile("../../shared/corpus/MANIFEST.tsv")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(rows)), "\n")[1:] {
		file, label, _ := strings.Cut(line, "\t")
		label, _, _ = strings.Cut(label, "\t")
		want, judged := map[string]bool{"bounce": true, "auto_reply": true, "mailing_list": false}[label]
		if !judged {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("../../shared/corpus", file))
		if err != nil {
			t.Fatal(err)
		}
		m := imapsync.MessageFromHeader(phase1Header(t, raw))
		if got := automatic(m) || (want && len(m.InReplyTo)+len(m.References) > 0); got != want {
			t.Errorf("%s (%s): automatic = %v, want %v", file, label, got, want)
		}
		n++
	}
	if n < 70 {
		t.Fatalf("judged %d corpus messages, want the bounces, auto-replies and lists", n)
	}
}

// phase1Header is the header block phase 1 fetches of raw: only the fields
// in imapsync.HeaderFields, as the server sends them.
func phase1Header(t *testing.T, raw []byte) []byte {
	t.Helper()
	if bytes.HasPrefix(raw, []byte("From ")) { // an mbox envelope line
		_, raw, _ = bytes.Cut(raw, []byte("\n"))
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))))
	if err != nil {
		return nil // unreadable: phase 1 would get no field either
	}
	var b strings.Builder
	for _, name := range imapsync.HeaderFields {
		for _, v := range msg.Header[textproto.CanonicalMIMEHeaderKey(name)] {
			b.WriteString(name + ": " + v + "\r\n")
		}
	}
	return []byte(b.String() + "\r\n")
}
