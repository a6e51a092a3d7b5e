// Package contactcsv reads a contacts CSV file (a header row, `email`
// required) and validates every row before anything is imported. It is pure:
// it reads from an io.Reader and never touches the database.
package contactcsv

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	outreach "github.com/outreach/outreach"
)

// File is a parsed CSV: the columns it has, its valid rows and its bad ones.
type File struct {
	Columns []string // every column, normalised, in file order
	Rows    []outreach.ContactRow
	Errors  []outreach.RowError
}

// Has reports whether the file has column c.
func (f *File) Has(c string) bool { return slices.Contains(f.Columns, c) }

// MaxRows bounds one import; larger lists should be split.
const MaxRows = 1_000_000

// Parse reads a whole CSV file. A problem with the file as a whole (no header,
// no email column, a repeated column) is an error; a problem with a row is
// listed in File.Errors with its line number, and that row is left out.
func Parse(r io.Reader) (*File, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // rows with the wrong width are reported, not fatal
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, outreach.Errorf(outreach.KindInvalid, "the file is empty: it needs a header row with an email column")
	}
	if err != nil {
		return nil, outreach.Errorf(outreach.KindInvalid, "header row: %w", err)
	}
	cols, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	f := &File{Columns: cols}
	p := newParser()
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if !addParseError(f, err) {
				return nil, outreach.Errorf(outreach.KindInvalid, "read CSV: %w", err)
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(f.Rows)+len(f.Errors) >= MaxRows {
			return nil, outreach.Errorf(outreach.KindInvalid, "more than %d rows: split the file", MaxRows)
		}
		row, reason := p.parseRow(cols, rec, line)
		if reason == "" {
			reason = p.claimAddresses(row)
		}
		if reason != "" {
			f.Errors = append(f.Errors, outreach.RowError{Line: line, Reason: reason})
			continue
		}
		f.Rows = append(f.Rows, row)
	}
	return f, nil
}

// addParseError records a CSV syntax error (such as a stray quote) against its
// line. encoding/csv resumes at the next record, so the rest is still read.
func addParseError(f *File, err error) bool {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return false
	}
	f.Errors = append(f.Errors, outreach.RowError{Line: pe.StartLine, Reason: "CSV syntax: " + pe.Err.Error()})
	return true
}

var columnName = regexp.MustCompile(`[^a-z0-9]+`)

// normalizeColumn turns "First Name" or "first-name" into "first_name", the
// form template variables use.
func normalizeColumn(h string) string {
	h = strings.TrimPrefix(h, "\ufeff") // Excel writes a byte-order mark
	return strings.Trim(columnName.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), "_"), "_")
}

func parseHeader(header []string) ([]string, error) {
	cols := make([]string, len(header))
	for i, h := range header {
		c := normalizeColumn(h)
		switch {
		case c == "":
			return nil, outreach.Errorf(outreach.KindInvalid, "header row: column %d has no name", i+1)
		case slices.Contains(cols[:i], c):
			return nil, outreach.Errorf(outreach.KindInvalid, "header row: column %q appears twice", c)
		}
		cols[i] = c
	}
	if !slices.Contains(cols, "email") {
		return nil, outreach.Errorf(outreach.KindInvalid,
			"header row: no email column (found: %s)", strings.Join(cols, ", "))
	}
	return cols, nil
}

// ParseFields validates one contact given as column names and values, the
// way a CSV row is validated (for `outreach contacts add`).
func ParseFields(cols, values []string) (outreach.ContactRow, error) {
	row, reason := newParser().parseRow(cols, values, 0)
	if reason != "" {
		return row, outreach.Errorf(outreach.KindInvalid, "%s", reason)
	}
	return row, nil
}

// parser carries what one file's rows share: the addresses seen so far and
// the time zones already checked (loading a zone reads the disk).
type parser struct {
	seen  map[string]int // address -> the line that has it
	zones map[string]bool
}

func newParser() *parser { return &parser{seen: map[string]int{}, zones: map[string]bool{}} }

func (p *parser) validZone(tz string) bool {
	ok, known := p.zones[tz]
	if !known {
		_, err := time.LoadLocation(tz)
		ok = err == nil && tz != "Local"
		p.zones[tz] = ok
	}
	return ok
}

func (p *parser) parseRow(cols, rec []string, line int) (outreach.ContactRow, string) {
	row := outreach.ContactRow{Line: line}
	if len(rec) != len(cols) {
		return row, fmt.Sprintf("%d fields, the header has %d", len(rec), len(cols))
	}
	c := &row.Contact
	for i, v := range rec {
		if !utf8.ValidString(v) {
			return row, fmt.Sprintf("column %s is not valid UTF-8 (save the file as UTF-8)", cols[i])
		}
		v = strings.TrimSpace(v)
		if reason := p.setField(c, cols[i], v); reason != "" {
			return row, reason
		}
	}
	if c.Email == "" {
		return row, "email is empty"
	}
	others := slices.DeleteFunc(c.Addresses, func(a string) bool { return a == c.Email })
	c.Addresses = append([]string{c.Email}, others...)
	return row, ""
}

func (p *parser) setField(c *outreach.Contact, col, v string) string {
	var err error
	switch col {
	case "email":
		if v != "" {
			c.Email, err = ParseAddress(v)
		}
	case "addresses":
		c.Addresses, err = parseAddressList(v)
	case "timezone":
		if v != "" && !p.validZone(v) {
			return fmt.Sprintf("timezone %q is not an IANA time zone such as America/Chicago", v)
		}
		c.Timezone = v
	case "first_name":
		c.FirstName = v
	case "last_name":
		c.LastName = v
	case "title":
		c.Title = v
	case "institution":
		c.Institution = v
	case "notes":
		c.Notes = v
	default:
		if c.Extra == nil {
			c.Extra = map[string]string{}
		}
		c.Extra[col] = v
	}
	if err != nil {
		return col + ": " + err.Error()
	}
	return ""
}

// ParseAddress accepts "user@example.edu" or "Name <user@example.edu>" and
// returns the bare address, lower-cased.
func ParseAddress(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("%q is not an email address", s)
	}
	if !strings.Contains(a.Address[strings.LastIndexByte(a.Address, '@')+1:], ".") {
		return "", fmt.Errorf("%q has no domain with a dot", s)
	}
	return outreach.NormalizeAddress(a.Address), nil
}

func parseAddressList(v string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(v, ";") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		a, err := ParseAddress(part)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// claimAddresses refuses a row that repeats an address of an earlier row:
// one address, one person.
func (p *parser) claimAddresses(row outreach.ContactRow) string {
	addrs := row.Contact.Addresses // distinct: parseRow made them so
	for _, a := range addrs {
		if first, ok := p.seen[a]; ok {
			return fmt.Sprintf("address %s is already on line %d", a, first)
		}
	}
	for _, a := range addrs {
		p.seen[a] = row.Line
	}
	return ""
}
