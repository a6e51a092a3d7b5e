package contactcsv

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	outreach "github.com/outreach/outreach"
)

func TestParseValidRows(t *testing.T) {
	in := "\ufeffEmail,First Name,last_name,Title,institution,timezone,notes,addresses,Research Interest\n" +
		"Ana.Souza@Example.edu,Ana,Souza,Prof.,Hospital São Paulo,America/Sao_Paulo,met at AUA,ana@gmail.com; asouza@hsp.example.org,stone disease\n" +
		"\"Dr. Li <li@example.edu>\",Wei,Li,,,Asia/Shanghai,,li@example.edu,\n"
	f, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Errors) != 0 {
		t.Fatalf("errors: %v", f.Errors)
	}
	wantCols := []string{"email", "first_name", "last_name", "title", "institution", "timezone", "notes", "addresses", "research_interest"}
	if !reflect.DeepEqual(f.Columns, wantCols) {
		t.Errorf("columns %v, want %v", f.Columns, wantCols)
	}
	ana := f.Rows[0]
	if ana.Line != 2 || ana.Contact.Email != "ana.souza@example.edu" || ana.Contact.Institution != "Hospital São Paulo" {
		t.Errorf("first row: %+v", ana)
	}
	if want := []string{"ana.souza@example.edu", "ana@gmail.com", "asouza@hsp.example.org"}; !reflect.DeepEqual(ana.Contact.Addresses, want) {
		t.Errorf("addresses %v, want %v", ana.Contact.Addresses, want)
	}
	if ana.Contact.Extra["research_interest"] != "stone disease" {
		t.Errorf("extra column: %v", ana.Contact.Extra)
	}
	// The primary address listed again in addresses is not a second address.
	if li := f.Rows[1].Contact; !reflect.DeepEqual(li.Addresses, []string{"li@example.edu"}) {
		t.Errorf("second row addresses %v", li.Addresses)
	}
}

func TestParseReportsEveryBadRowWithItsLine(t *testing.T) {
	in := strings.Join([]string{
		"email,first_name,timezone,addresses",
		"good@example.edu,Good,,",                    // 2
		"not-an-address,Bad,,",                       // 3
		",Empty,,",                                   // 4
		"tz@example.edu,Tz,Mars/Olympus,",            // 5
		"short@example.edu",                          // 6
		"dup@example.edu,Dup,,",                      // 7
		"dup2@example.edu,Dup2,,DUP@example.edu",     // 8
		`"quote@example.edu,Broken "quote",,`,        // 9
		"nodot@localhost,NoDot,,",                    // 10
		"fine@example.edu,Fine,Europe/Berlin,x@y.de", // 11
	}, "\n") + "\n"
	f, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, e := range f.Errors {
		got[e.Line] = e.Reason
	}
	wantLines := []int{3, 4, 5, 6, 8, 9, 10}
	if len(got) != len(wantLines) {
		t.Fatalf("errors %v, want lines %v", f.Errors, wantLines)
	}
	for _, l := range wantLines {
		if got[l] == "" {
			t.Errorf("line %d not reported; errors: %v", l, f.Errors)
		}
	}
	for line, fragment := range map[int]string{3: "not an email address", 4: "email is empty",
		5: "IANA time zone", 6: "1 fields, the header has 4", 8: "already on line 7", 9: "CSV syntax"} {
		if !strings.Contains(got[line], fragment) {
			t.Errorf("line %d: reason %q, want it to mention %q", line, got[line], fragment)
		}
	}
	if len(f.Rows) != 3 {
		t.Errorf("%d valid rows, want 3 (lines 2, 7, 11)", len(f.Rows))
	}
}

func TestParseFileLevelErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":           "",
		"no email column": "name,institution\nA,B\n",
		"repeated column": "email,Email\na@b.edu,a@b.edu\n",
		"unnamed column":  "email,,x\na@b.edu,1,2\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(in))
			if !outreach.IsKind(err, outreach.KindInvalid) {
				t.Fatalf("got %v, want an invalid-input error", err)
			}
		})
	}
}

func TestParseRejectsInvalidUTF8(t *testing.T) {
	f, err := Parse(strings.NewReader("email,first_name\nlatin1@example.edu,Jos\xe9\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Errors) != 1 || f.Errors[0].Line != 2 || !strings.Contains(f.Errors[0].Reason, "UTF-8") {
		t.Fatalf("errors %v, want line 2 refused as not UTF-8", f.Errors)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("email,first_name\na@b.edu,A\n")
	f.Add("email\n\"unterminated\n")
	f.Fuzz(func(t *testing.T, in string) {
		file, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range file.Rows {
			if r.Contact.Email == "" || r.Contact.Addresses[0] != r.Contact.Email {
				t.Fatalf("row %d: primary %q not first of %v", r.Line, r.Contact.Email, r.Contact.Addresses)
			}
		}
		_ = fmt.Sprint(file.Errors)
	})
}
