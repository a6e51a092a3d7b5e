package imapsync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Role says why a mailbox is synced.
type Role string

// The roles Discover assigns.
const (
	RoleInbox Role = "inbox"
	RoleSent  Role = "sent"
	RoleJunk  Role = "junk"
	RoleExtra Role = "extra"
)

// Mailbox is a mailbox to sync.
type Mailbox struct {
	Name  string
	Role  Role
	Attrs []string // LIST attributes (RFC 3501 section 7.2.2, RFC 6154)
}

// sentNames are the names tried, in order, when no mailbox carries the
// \Sent attribute (RFC 6154 section 2): common server defaults and Gmail's
// localised "[Gmail]/..." names.
var sentNames = []string{
	"Sent", "Sent Items", "Sent Messages", "Sent Mail", "INBOX.Sent", "INBOX/Sent",
	"INBOX.Sent Items", "INBOX.Sent Messages",
	"[Gmail]/Sent Mail", "[Google Mail]/Sent Mail",
	"[Gmail]/Gesendet", "[Google Mail]/Gesendet",
	"[Gmail]/Messages envoyés", "[Gmail]/Enviados", "[Gmail]/Posta inviata",
	"[Gmail]/Verzonden berichten", "[Gmail]/Wysłane", "[Gmail]/Enviadas",
	"[Gmail]/Отправленные", "[Gmail]/Skickat", "[Gmail]/Sendte meldinger",
	"[Gmail]/Sendt post", "[Gmail]/Lähetetyt", "[Gmail]/Odeslaná pošta",
	"[Gmail]/Elküldött levelek", "[Gmail]/Gönderilmiş Postalar", "[Gmail]/送信済みメール",
	"[Gmail]/已发邮件", "[Gmail]/寄件備份", "[Gmail]/보낸편지함",
	"Gesendet", "Gesendete Elemente", "Gesendete Objekte", "Éléments envoyés",
	"Elementos enviados", "Posta inviata", "Verzonden items",
}

// junkNames are the names tried when no mailbox carries the \Junk
// attribute (RFC 6154 section 2).
var junkNames = []string{
	"Junk", "Spam", "Junk E-mail", "Junk Email", "Junk Mail", "Bulk Mail", "INBOX.Junk", "INBOX/Junk",
	"INBOX.Spam", "INBOX/Spam", "[Gmail]/Spam", "[Google Mail]/Spam", "Courrier indésirable",
	"Correo no deseado", "Posta indesiderata", "Ongewenste e-mail", "Junk-E-Mail", "Spamverdacht",
}

// errNotSelectable is returned for an extra mailbox marked \Noselect.
var errNotSelectable = errors.New("mailbox cannot be selected (\\Noselect)")

// excludedAttrs are the RFC 6154 uses never synced unless named as extra.
var excludedAttrs = []imap.MailboxAttr{imap.MailboxAttrAll, imap.MailboxAttrJunk, imap.MailboxAttrTrash}

// Discover lists mailboxes (LIST "" "*", with RETURN (SPECIAL-USE) when the
// server advertises SPECIAL-USE, RFC 6154 section 5.1) and returns INBOX,
// the Sent mailbox (by the \Sent attribute, else by common names; omitted
// when none is found), the Junk mailbox likewise (a reply a spam filter
// misfiled is still a reply; unless Account.SkipJunk) and the extra
// mailboxes named. A named extra mailbox that does not exist or cannot be
// selected is an error naming it.
func (c *Conn) Discover(ctx context.Context, extra []string) ([]Mailbox, error) {
	list, err := c.list(ctx)
	if err != nil {
		return nil, err
	}
	out := []Mailbox{inboxOf(list)}
	if sent := findSent(list); sent != nil {
		out = append(out, Mailbox{Name: sent.Mailbox, Role: RoleSent, Attrs: attrStrings(sent)})
	}
	if junk := findJunk(list); junk != nil && !c.account.SkipJunk && !hasMailbox(out, junk.Mailbox) {
		out = append(out, Mailbox{Name: junk.Mailbox, Role: RoleJunk, Attrs: attrStrings(junk)})
	}
	for _, name := range extra {
		mb, err := findExtra(list, name)
		if err != nil {
			return nil, fmt.Errorf("imapsync: discover: %w", err)
		}
		if !hasMailbox(out, mb.Name) {
			out = append(out, mb)
		}
	}
	return out, nil
}

// list runs LIST "" "*". Servers that advertise SPECIAL-USE get RETURN
// (SPECIAL-USE); if they reject it, plain LIST is used. Attributes from the
// plain LIST are read too (Gmail, Microsoft 365 send \Sent unasked).
func (c *Conn) list(ctx context.Context) ([]*imap.ListData, error) {
	if c.caps.Has(imap.CapSpecialUse) {
		l, err := c.listWith(ctx, &imap.ListOptions{ReturnSpecialUse: true})
		var ierr *imap.Error
		if err == nil || !errors.As(err, &ierr) {
			return l, err
		}
	}
	return c.listWith(ctx, nil)
}

// listWith runs one LIST command.
func (c *Conn) listWith(ctx context.Context, opts *imap.ListOptions) ([]*imap.ListData, error) {
	var l []*imap.ListData
	err := c.run(ctx, `LIST "" "*"`, func() error {
		var err error
		l, err = c.client.List("", "*", opts).Collect()
		return err
	})
	return l, err
}

// inboxOf returns INBOX (case-insensitive, RFC 3501 section 5.1), which
// always exists even when LIST omits it.
func inboxOf(list []*imap.ListData) Mailbox {
	for _, d := range list {
		if strings.EqualFold(d.Mailbox, "INBOX") {
			return Mailbox{Name: d.Mailbox, Role: RoleInbox, Attrs: attrStrings(d)}
		}
	}
	return Mailbox{Name: "INBOX", Role: RoleInbox}
}

// findSent picks the Sent mailbox: the first selectable one with \Sent,
// else the first of sentNames that exists (exact, then case-insensitive).
func findSent(list []*imap.ListData) *imap.ListData {
	for _, d := range list {
		if selectable(d) && hasAttr(d, imap.MailboxAttrSent) && !excluded(d) {
			return d
		}
	}
	for _, fold := range []bool{false, true} {
		for _, name := range sentNames {
			for _, d := range list {
				if sameName(d.Mailbox, name, fold) && selectable(d) && !excluded(d) {
					return d
				}
			}
		}
	}
	return nil
}

// findJunk picks the Junk mailbox: the first selectable one with \Junk,
// else the first of junkNames that exists (exact, then case-insensitive)
// and carries no other special use.
func findJunk(list []*imap.ListData) *imap.ListData {
	for _, d := range list {
		if selectable(d) && hasAttr(d, imap.MailboxAttrJunk) {
			return d
		}
	}
	for _, fold := range []bool{false, true} {
		for _, name := range junkNames {
			for _, d := range list {
				if sameName(d.Mailbox, name, fold) && selectable(d) && !excluded(d) && !hasAttr(d, imap.MailboxAttrSent) {
					return d
				}
			}
		}
	}
	return nil
}

// findExtra finds a mailbox named by the user.
func findExtra(list []*imap.ListData, name string) (Mailbox, error) {
	for _, d := range list {
		if d.Mailbox == name || (strings.EqualFold(name, "INBOX") && strings.EqualFold(d.Mailbox, name)) {
			if !selectable(d) {
				return Mailbox{}, fmt.Errorf("extra mailbox %q: %w", name, errNotSelectable)
			}
			return Mailbox{Name: d.Mailbox, Role: RoleExtra, Attrs: attrStrings(d)}, nil
		}
	}
	return Mailbox{}, fmt.Errorf("extra mailbox %q does not exist on the server", name)
}

// sameName compares mailbox names, optionally ignoring case.
func sameName(a, b string, fold bool) bool {
	if fold {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// selectable is false for \Noselect and \NonExistent (RFC 5258).
func selectable(d *imap.ListData) bool {
	return !hasAttr(d, imap.MailboxAttrNoSelect) && !hasAttr(d, imap.MailboxAttrNonExistent)
}

// excluded reports \All, \Junk or \Trash.
func excluded(d *imap.ListData) bool {
	for _, a := range excludedAttrs {
		if hasAttr(d, a) {
			return true
		}
	}
	return false
}

// hasAttr compares attributes case-insensitively (RFC 3501 section 9 flag
// names are case-insensitive).
func hasAttr(d *imap.ListData, attr imap.MailboxAttr) bool {
	for _, a := range d.Attrs {
		if strings.EqualFold(string(a), string(attr)) {
			return true
		}
	}
	return false
}

// attrStrings converts the attributes to strings.
func attrStrings(d *imap.ListData) []string {
	out := make([]string, len(d.Attrs))
	for i, a := range d.Attrs {
		out[i] = string(a)
	}
	return out
}

// hasMailbox reports whether out already holds name.
func hasMailbox(out []Mailbox, name string) bool {
	for _, m := range out {
		if m.Name == name {
			return true
		}
	}
	return false
}
