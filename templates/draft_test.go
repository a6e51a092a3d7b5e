package templates

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReplySubject(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"none", "Research opportunity", "Re: Research opportunity"},
		{"re", "Re: Research opportunity", "Re: Research opportunity"},
		{"re re", "Re: Re: Research opportunity", "Re: Research opportunity"},
		{"upper", "RE: Research opportunity", "Re: Research opportunity"},
		{"lower no space", "re:Research opportunity", "Re: Research opportunity"},
		{"german", "AW: Anfrage Hospitation", "Re: Anfrage Hospitation"},
		{"mixed chain", "AW: RE: Aw: SV: Anfrage", "Re: Anfrage"},
		{"counter", "Re[2]: Re(3): Re^4: Anfrage", "Re: Anfrage"},
		{"full-width colon", "回复：关于临床观摩的询问", "Re: 关于临床观摩的询问"},
		{"forward kept", "Fwd: CV", "Re: Fwd: CV"},
		{"reply after forward", "Re: Fwd: CV", "Re: Fwd: CV"},
		{"word that starts like a prefix", "Research: a question", "Re: Research: a question"},
		{"text case kept", "RE: URGENT question about PCNL", "Re: URGENT question about PCNL"},
		{"folded", "Re: Estágio de\r\n\tobservação", "Re: Estágio de observação"},
		{"empty", "", "Re:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := replySubject(tc.in); got != tc.want {
				t.Errorf("replySubject(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestReferences(t *testing.T) {
	var long []string
	for i := range 30 {
		long = append(long, fmt.Sprintf("m%d@x", i))
	}
	tests := []struct {
		name string
		in   Original
		want []string
	}{
		{"first email", Original{MessageID: "<a@x>"}, []string{"a@x"}},
		{"references", Original{MessageID: "c@x", References: []string{"a@x", "b@x"}}, []string{"a@x", "b@x", "c@x"}},
		{"in-reply-to only", Original{MessageID: "b@x", InReplyTo: []string{"<a@x>"}}, []string{"a@x", "b@x"}},
		{"several in-reply-to ignored", Original{MessageID: "c@x", InReplyTo: []string{"a@x", "b@x"}}, []string{"c@x"}},
		{"duplicates", Original{MessageID: "c@x", References: []string{"a@x", "<a@x>", " b@x ", "", "a@x"}},
			[]string{"a@x", "b@x", "c@x"}},
		{"parent last", Original{MessageID: "b@x", References: []string{"a@x", "b@x", "c@x"}}, []string{"a@x", "c@x", "b@x"}},
		{"capped, root kept", Original{MessageID: "last@x", References: long},
			append([]string{"m0@x"}, append(slices.Clone(long[11:]), "last@x")...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := references(tc.in)
			if !slices.Equal(got, tc.want) {
				t.Errorf("references = %v, want %v", got, tc.want)
			}
			if len(got) > maxReferences {
				t.Errorf("%d references, want at most %d", len(got), maxReferences)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		width int
		want  []string
	}{
		{"short", "Dear Dr. Chen,", 72, []string{"Dear Dr. Chen,"}},
		{"at spaces", "one two three four", 9, []string{"one two", "three", "four"}},
		{"indent kept", "  - one two three", 10, []string{"  - one", "  two", "  three"}},
		{"long word whole", "see https://example.edu/a/very/long/path now", 10,
			[]string{"see", "https://example.edu/a/very/long/path", "now"}},
		{"counts characters, not bytes", "Zoë Müller Ñúñez", 16, []string{"Zoë Müller Ñúñez"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := wrap(tc.in, tc.width); !slices.Equal(got, tc.want) {
				t.Errorf("wrap(%q, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
			}
		})
	}
}

// TestBodyLayout: blank-line runs from {{if}} shrink, trailing spaces go
// but the signature separator keeps its space, and quoted quotes nest.
func TestBodyLayout(t *testing.T) {
	o := Original{Text: "Hello,\n> earlier words\n\n\n", From: "a@x",
		Date: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	got := body("\n\nDear Dr. Chen,  \n\n\n\nThanks.\n-- \nAmaka\n\n", o)
	want := "Dear Dr. Chen,\n\nThanks.\n-- \nAmaka\n\nOn Mon, 2 Nov 2026 at 09:00, a@x wrote:\n> Hello,\n>> earlier words\n"
	if got != want {
		t.Errorf("body =\n%q\nwant\n%q", got, want)
	}
	if got := body("Hi\n", Original{}); got != "Hi\n" {
		t.Errorf("body without an original text = %q, want no quote", got)
	}
}

func TestExcerpt(t *testing.T) {
	text := "Dear Professor Chen,\r\n\r\nI am a medical graduate\r\nfrom Nigeria.\r\n\r\nKind regards,\r\nAmaka"
	if got, want := excerpt(text), "I am a medical graduate from Nigeria."; got != want {
		t.Errorf("excerpt = %q, want %q", got, want)
	}
	long := strings.Repeat("word ", 50)
	if got := excerpt(long); len(strings.Fields(got)) != excerptWords+1 || !strings.HasSuffix(got, " …") {
		t.Errorf("excerpt of 50 words = %q, want %d words and an ellipsis", got, excerptWords)
	}
}

// TestErrorFormats pins the text/template messages errors.go picks apart;
// if a Go release changes them, this fails before users see vague errors.
func TestErrorFormats(t *testing.T) {
	set := mustSet(t, nil)
	data := fixture()
	data.Profile.Name = ""
	_, err := set.Render("followup_research", data)
	if want := "template followup_research: line 21: variable .Profile.Name is empty"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}
