package imapsync

import (
	"context"
	"strings"
	"testing"
)

// TestDiscover finds INBOX, Sent and extras by name on the in-memory server
// (whose beta.8 backend keeps no special-use attributes).
func TestDiscover(t *testing.T) {
	tests := []struct {
		name     string
		create   []string // besides INBOX and Sent
		dropSent bool
		skipJunk bool
		extra    []string
		want     string // "name:role,..."
		wantErr  string
	}{
		{name: "sent by name", create: []string{"Drafts", "Archive"}, want: "INBOX:inbox,Sent:sent"},
		{name: "gmail localised name", dropSent: true, create: []string{"[Gmail]/All Mail", "[Gmail]/Gesendet"},
			want: "INBOX:inbox,[Gmail]/Gesendet:sent"},
		{name: "case-insensitive fallback", dropSent: true, create: []string{"SENT ITEMS"},
			want: "INBOX:inbox,SENT ITEMS:sent"},
		{name: "no sent mailbox", dropSent: true, want: "INBOX:inbox"},
		{name: "extra found", create: []string{"Lists/Grad School"}, extra: []string{"Lists/Grad School", "INBOX"},
			want: "INBOX:inbox,Sent:sent,Lists/Grad School:extra"},
		{name: "missing extra", extra: []string{"Professors"}, wantErr: `"Professors" does not exist`},
		{name: "junk by name", create: []string{"Spam", "Archive"}, want: "INBOX:inbox,Sent:sent,Spam:junk"},
		{name: "junk by a localised name, also named as extra", create: []string{"Courrier indésirable"},
			extra: []string{"Courrier indésirable"}, want: "INBOX:inbox,Sent:sent,Courrier indésirable:junk"},
		{name: "junk skipped", create: []string{"Junk"}, skipJunk: true, want: "INBOX:inbox,Sent:sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMemServer(t, serverConfig{})
			if tt.dropSent {
				if err := s.user.Delete("Sent"); err != nil {
					t.Fatal(err)
				}
			}
			for _, name := range tt.create {
				if err := s.user.Create(name, nil); err != nil {
					t.Fatal(err)
				}
			}
			c := s.dial(t)
			c.account.SkipJunk = tt.skipJunk
			got, err := c.Discover(context.Background(), tt.extra)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Discover error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if s := describe(got); s != tt.want {
				t.Errorf("Discover = %s, want %s", s, tt.want)
			}
		})
	}
}

// TestDiscoverAttributes reads RFC 6154 attributes, from LIST RETURN
// (SPECIAL-USE) and from a plain LIST on servers that do not advertise
// SPECIAL-USE (Gmail, Microsoft 365), against a scripted server.
func TestDiscoverAttributes(t *testing.T) {
	gmail := []string{
		`* LIST (\HasNoChildren) "/" "INBOX"`,
		`* LIST (\HasChildren \Noselect) "/" "[Gmail]"`,
		`* LIST (\All \HasNoChildren) "/" "[Gmail]/All Mail"`,
		`* LIST (\HasNoChildren \Junk) "/" "[Gmail]/Spam"`,
		`* LIST (\HasNoChildren \Trash) "/" "[Gmail]/Trash"`,
		`* LIST (\HasNoChildren \Sent) "/" "[Gmail]/Sent Mail"`,
		`* LIST (\Noselect) "/" "Archive"`,
	}
	spamNamedOther := []string{
		`* LIST () "/" "INBOX"`,
		`* LIST () "/" "Spam"`,
		`* LIST (\Sent) "/" "Sent"`,
		`* LIST (\Junk) "/" "Unwanted"`,
	}
	junkNamedSent := []string{
		`* LIST () "." "INBOX"`,
		`* LIST (\Junk) "." "Sent Items"`,
		`* LIST (\sent) "." "Outgoing"`,
	}
	tests := []struct {
		name       string
		specialUse bool
		list       []string
		extra      []string
		want       string
		wantErr    string
		wantReturn bool // LIST ... RETURN (SPECIAL-USE) sent
	}{
		{name: "plain list attributes", list: gmail, want: "INBOX:inbox,[Gmail]/Sent Mail:sent,[Gmail]/Spam:junk"},
		{name: "return special-use", specialUse: true, list: gmail, want: "INBOX:inbox,[Gmail]/Sent Mail:sent,[Gmail]/Spam:junk",
			wantReturn: true},
		{name: "attribute beats a junk folder named Sent", list: junkNamedSent, want: "INBOX:inbox,Outgoing:sent,Sent Items:junk"},
		{name: "all mail only as an extra, junk once", list: gmail, extra: []string{"[Gmail]/Spam", "[Gmail]/All Mail"},
			want: "INBOX:inbox,[Gmail]/Sent Mail:sent,[Gmail]/Spam:junk,[Gmail]/All Mail:extra"},
		{name: "junk attribute beats a folder named Spam", list: spamNamedOther,
			want: "INBOX:inbox,Sent:sent,Unwanted:junk"},
		{name: "noselect extra", list: gmail, extra: []string{"Archive"}, wantErr: `"Archive"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, fakeConfig{list: tt.list, specialUse: tt.specialUse})
			got, err := f.dial(t).Discover(context.Background(), tt.extra)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Discover error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if s := describe(got); s != tt.want {
				t.Errorf("Discover = %s, want %s", s, tt.want)
			}
			if sent := strings.Contains(f.commands(), "RETURN (SPECIAL-USE)"); sent != tt.wantReturn {
				t.Errorf("RETURN (SPECIAL-USE) sent = %v, want %v:\n%s", sent, tt.wantReturn, f.commands())
			}
		})
	}
}

// describe renders mailboxes as "name:role,...".
func describe(mbs []Mailbox) string {
	parts := make([]string, len(mbs))
	for i, m := range mbs {
		parts[i] = m.Name + ":" + string(m.Role)
	}
	return strings.Join(parts, ",")
}
