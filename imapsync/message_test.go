package imapsync

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"pgregory.net/rapid"
)

// TestParseHeader covers the lenient RFC 5322 / RFC 2047 header parsing.
func TestParseHeader(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   Message // only the parsed fields are compared
		errHas string  // substring of ParseError; "" means none
	}{
		{name: "reply with encoded words",
			header: "Message-ID: <A1@Mail.Example>\r\nIn-Reply-To: <out-1@x.example>\r\n" +
				"References: <r1@x.example> <out-1@x.example>\r\n" +
				"From: =?ISO-8859-1?Q?Andr=E9_Pirard?= <Andre.Pirard@ULG.example>\r\n" +
				"To: A <A@B.example>, c@D.example\r\nCc: undisclosed-recipients:;\r\n" +
				"Subject: =?utf-8?B?UmU6IEFwcGxpY2F0aW9u?=\r\n =?windows-1252?Q?_=96_thanks?=\r\n" +
				"Date: Tue, 4 Mar 2025 09:00:00 +0000\r\n\r\n",
			want: Message{MessageID: "A1@Mail.Example", InReplyTo: []string{"out-1@x.example"},
				References: []string{"r1@x.example", "out-1@x.example"}, From: "andre.pirard@ulg.example",
				FromName: "André Pirard", To: []string{"a@b.example", "c@d.example"},
				Subject: "Re: Application – thanks", Date: time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)}},
		{name: "message-id without brackets, folded references",
			header: "Message-Id: abc@def.example\r\nReferences: <a@x>\r\n\t<b@x>\r\nFrom: plain@example.org\r\n\r\n",
			want:   Message{MessageID: "abc@def.example", References: []string{"a@x", "b@x"}, From: "plain@example.org"}},
		{name: "line without colon is skipped",
			header: "From: a@b.example\r\nThis line is broken\r\nSubject: still here\r\n\r\n",
			want:   Message{From: "a@b.example", Subject: "still here"}, errHas: "malformed line"},
		{name: "unparseable address list falls back to address-like tokens",
			header: "From: a@b.example\r\nTo: Broken <x@y.example, \"q <z@w.example>\r\n\r\n",
			want:   Message{From: "a@b.example", To: []string{"x@y.example", "z@w.example"}}, errHas: "to:"},
		{name: "bad date",
			header: "From: a@b.example\r\nDate: yesterday-ish\r\n\r\n",
			want:   Message{From: "a@b.example"}, errHas: "date:"},
		{name: "empty header", header: "\r\n", errHas: "no fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Message{Header: []byte(tt.header)}
			m.parseHeader()
			got := Message{MessageID: m.MessageID, InReplyTo: m.InReplyTo, References: m.References, From: m.From,
				FromName: m.FromName, To: m.To, Cc: m.Cc, Subject: m.Subject, Date: m.Date}
			if !sameParsed(got, tt.want) {
				t.Errorf("parsed\n%+v\nwant\n%+v", got, tt.want)
			}
			if (tt.errHas == "") != (m.ParseError == "") || !strings.Contains(m.ParseError, tt.errHas) {
				t.Errorf("ParseError %q, want %q", m.ParseError, tt.errHas)
			}
		})
	}
}

// sameParsed compares the parsed fields of two messages.
func sameParsed(a, b Message) bool {
	join := func(s []string) string { return strings.Join(s, "|") }
	return a.MessageID == b.MessageID && join(a.InReplyTo) == join(b.InReplyTo) &&
		join(a.References) == join(b.References) && a.From == b.From && a.FromName == b.FromName &&
		join(a.To) == join(b.To) && join(a.Cc) == join(b.Cc) && a.Subject == b.Subject && a.Date.Equal(b.Date)
}

// TestMakePlan checks which sections phase 2 asks for (RFC 3501 section
// 6.4.5 part numbers).
func TestMakePlan(t *testing.T) {
	text := func(sub string) *imap.BodyStructureSinglePart {
		return &imap.BodyStructureSinglePart{Type: "text", Subtype: sub}
	}
	attach := &imap.BodyStructureSinglePart{Type: "application", Subtype: "pdf",
		Extended: &imap.BodyStructureSinglePartExt{Disposition: &imap.BodyStructureDisposition{Value: "attachment"}}}
	multi := func(sub, boundary string, children ...imap.BodyStructure) *imap.BodyStructureMultiPart {
		return &imap.BodyStructureMultiPart{Subtype: sub, Children: children,
			Extended: &imap.BodyStructureMultiPartExt{Params: map[string]string{"boundary": boundary}}}
	}
	tests := []struct {
		name    string
		bs      imap.BodyStructure
		want    string
		wantErr string
	}{
		{name: "single part", bs: text("plain"), want: "TEXT<>"},
		{name: "alternative in mixed with attachment",
			bs:   multi("mixed", "o", multi("alternative", "i", text("plain"), text("html")), attach),
			want: "1.MIME 1.1.MIME 1.1<> 1.2.MIME 2.MIME"},
		{name: "html only", bs: multi("alternative", "i", text("html"), attach), want: "1.MIME 1<> 2.MIME"},
		{name: "dsn", bs: multi("report", "r", text("plain"),
			&imap.BodyStructureSinglePart{Type: "message", Subtype: "delivery-status"},
			&imap.BodyStructureSinglePart{Type: "message", Subtype: "rfc822"}),
			want: "1.MIME 1<> 2.MIME 2 3.MIME 3.HEADER"},
		{name: "text attachment is not the body", bs: multi("mixed", "m",
			&imap.BodyStructureSinglePart{Type: "text", Subtype: "plain", Extended: attach.Extended}, text("html")),
			want: "1.MIME 2.MIME 2<>"},
		{name: "no boundary", bs: &imap.BodyStructureMultiPart{Subtype: "mixed", Children: []imap.BodyStructure{text("plain")}},
			wantErr: "no boundary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := makePlan(tt.bs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("makePlan error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := signature(p.sections); got != tt.want {
				t.Errorf("sections %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCountUpTo counts UIDs at or below a limit.
func TestCountUpTo(t *testing.T) {
	tests := []struct {
		set   imap.UIDSet
		limit uint32
		want  uint32
	}{
		{imap.UIDSetNum(1, 3, 4, 9), 4, 3},
		{imap.UIDSet{{Start: 5, Stop: 0}}, 7, 3},
		{imap.UIDSet{{Start: 1, Stop: 100}}, 100, 100},
		{nil, 10, 0},
	}
	for _, tt := range tests {
		if got := countUpTo(tt.set, tt.limit); got != tt.want {
			t.Errorf("countUpTo(%v, %d) = %d, want %d", tt.set, tt.limit, got, tt.want)
		}
	}
}

// referenceSplitHeader is splitHeader written plainly: every line, CRLF
// made LF first.
func referenceSplitHeader(h []byte) ([]headerField, []string) {
	var (
		fields   []headerField
		problems []string
	)
	lines := strings.Split(strings.ReplaceAll(string(h), "\r\n", "\n"), "\n")
	for i, line := range lines {
		switch {
		case line == "":
			if strings.TrimSpace(strings.Join(lines[i:], "")) != "" {
				problems = append(problems, "header: blank line inside the header")
			}
			return fields, problems
		case line[0] == ' ' || line[0] == '\t':
			if len(fields) == 0 {
				problems = append(problems, "header: continuation line before any field")
				continue
			}
			fields[len(fields)-1].value += " " + strings.TrimSpace(line)
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok || k == "" || strings.ContainsAny(k, " \t") {
				problems = append(problems, fmt.Sprintf("header: malformed line %q", truncate(line, 60)))
				continue
			}
			fields = append(fields, headerField{key: k, value: strings.TrimSpace(v)})
		}
	}
	return fields, problems
}

func TestSplitHeaderMatchesTheReference(t *testing.T) {
	pieces := []string{"Subject: a", "From: b <b@x>", "\r\n", "\n", "\r", " ", "\t", "cont", ":", "x y: z",
		"\u00e9", "\xff", "To:", ""}
	rapid.Check(t, func(t *rapid.T) {
		h := []byte(strings.Join(rapid.SliceOf(rapid.SampledFrom(pieces)).Draw(t, "pieces"), ""))
		gotF, gotP := splitHeader(h)
		wantF, wantP := referenceSplitHeader(h)
		if len(gotF) != len(wantF) || len(gotP) != len(wantP) || (len(wantF) > 0 && !reflect.DeepEqual(gotF, wantF)) ||
			(len(wantP) > 0 && !reflect.DeepEqual(gotP, wantP)) {
			t.Fatalf("splitHeader(%q)\n got %q %q\nwant %q %q", h, gotF, gotP, wantF, wantP)
		}
	})
}

// scripts/bench-sync times the protocol floor for the header fields phase 1
// asks for; its list must be HeaderFields.
func TestBenchSyncFieldsAreHeaderFields(t *testing.T) {
	script, err := os.ReadFile("../scripts/bench-sync")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(script), "HEADER.FIELDS (")
	list, _, ok2 := strings.Cut(rest, ")")
	if !ok || !ok2 {
		t.Fatal("scripts/bench-sync has no HEADER.FIELDS (...) list")
	}
	var want []string
	for _, f := range HeaderFields {
		want = append(want, strings.ToUpper(f))
	}
	if got := strings.Fields(list); !slices.Equal(got, want) {
		t.Fatalf("scripts/bench-sync fetches %v, phase 1 asks for %v", got, want)
	}
}
