package classify

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cueKind says how a date relates to the return: "back on X" means X,
// "until X" means the day after X.
type cueKind int

const (
	cueNone  cueKind = iota
	cueRange         // the end of a range such as "July 10-31": back the day after
	cueUntil         // "until", "bis einschließlich", "jusqu'au": back the day after
	cueBack          // "back on", "returning", "de retour le": back that day
)

// dateMatch is one date expression found in the text.
type dateMatch struct {
	start, end int
	day, month int // month 0: numeric, a and b not yet ordered
	a, b       int
	year       int // 0 when not written
	ymd        bool
	isRange    bool // the match itself is a range; day is its end
}

// candidate is a resolved return date and why it was chosen.
type candidate struct {
	date Date
	cue  cueKind
	pos  int
	why  string
}

// returnDate finds the first day the person is back: from iCloud's
// X-Apple-Criteria, else from the text in English, German, French,
// Spanish, Portuguese or Italian, resolved against the message Date.
func returnDate(f *facts) (*Date, string) {
	if d, ok := appleEndDate(f.msg.header.get("x-apple-criteria")); ok {
		return &d, "X-Apple-Criteria endDate"
	}
	if !f.hasDate {
		return nil, ""
	}
	text := normalizeDateText(f.lsubject + "\n" + capString(f.ltext, 8<<10))
	sent := dateOf(f.date)
	// The numeric order reads the whole text: only a numeric date with a
	// cue before it needs it.
	order := sync.OnceValue(func() []string { return numericOrder(f, text) })
	var best *candidate
	matches := findDates(text)
	for i, m := range matches {
		c, ok := judge(text, matches, i, m, sent, order)
		if ok && (best == nil || c.cue > best.cue) {
			best = &c
		}
	}
	if best == nil {
		return nil, ""
	}
	return &best.date, best.why
}

// appleEndDate reads "endDate=2020-01-10T14:59:59Z": the last moment away,
// so the first day back is the day after (or that day at 00:00).
func appleEndDate(v string) (Date, bool) {
	i := strings.Index(strings.ToLower(v), "enddate=")
	if i < 0 {
		return Date{}, false
	}
	s := v[i+len("enddate="):]
	if j := strings.IndexAny(s, ",}; "); j >= 0 {
		s = s[:j]
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return Date{}, false
	}
	t = t.UTC().Add(time.Second)
	d := dateOf(t)
	if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 {
		d = d.addDays(1)
	}
	return d, true
}

// normalizeDateText unifies apostrophes and spaces so cue patterns match.
func normalizeDateText(s string) string {
	return dateTextReplacer.Replace(s)
}

var dateTextReplacer = strings.NewReplacer("\u2019", "'", "\u00a0", " ", "\t", " ", "\r", "", "\u2013", "-", "\u2014", "-")

// judge resolves one date match and reads the cue before it.
func judge(text string, all []dateMatch, i int, m dateMatch, sent Date, order func() []string) (candidate, bool) {
	cue, why := cueBefore(text, all, i)
	if m.isRange && cue < cueUntil {
		cue, why = cueRange, "a date range"
	}
	if cue == cueNone {
		return candidate{}, false
	}
	d, ok := resolveMatch(m, sent, order)
	if !ok {
		return candidate{}, false
	}
	if cue != cueBack {
		d = d.addDays(1)
	}
	return candidate{date: d, cue: cue, pos: m.start, why: why + " \"" + strings.TrimSpace(text[m.start:m.end]) + "\""}, true
}

// Month names in the six languages, lower-case, accents as written.
var monthNames = map[string]int{
	"january": 1, "jan": 1, "januar": 1, "jänner": 1, "janvier": 1, "enero": 1, "janeiro": 1, "gennaio": 1,
	"february": 2, "feb": 2, "februar": 2, "février": 2, "fevrier": 2, "febrero": 2, "fevereiro": 2, "febbraio": 2,
	"march": 3, "mar": 3, "märz": 3, "maerz": 3, "mars": 3, "marzo": 3, "março": 3, "marco": 3, "mär": 3,
	"april": 4, "apr": 4, "avril": 4, "abril": 4, "aprile": 4,
	"may": 5, "mai": 5, "mayo": 5, "maio": 5, "maggio": 5,
	"june": 6, "jun": 6, "juni": 6, "juin": 6, "junio": 6, "junho": 6, "giugno": 6,
	"july": 7, "jul": 7, "juli": 7, "juillet": 7, "julio": 7, "julho": 7, "luglio": 7,
	"august": 8, "aug": 8, "août": 8, "aout": 8, "agosto": 8,
	"september": 9, "sep": 9, "sept": 9, "septembre": 9, "septiembre": 9, "setiembre": 9, "setembro": 9, "settembre": 9,
	"october": 10, "oct": 10, "oktober": 10, "okt": 10, "octobre": 10, "octubre": 10, "outubro": 10, "ottobre": 10,
	"november": 11, "nov": 11, "novembre": 11, "noviembre": 11, "novembro": 11,
	"december": 12, "dec": 12, "dezember": 12, "dez": 12, "décembre": 12, "decembre": 12, "diciembre": 12,
	"dezembro": 12, "dicembre": 12,
}

var (
	monthAlt  = monthAlternation()
	ordSuffix = `(?:st|nd|rd|th|er|\.|º|°)?`
	rangeSep  = `\s*(?:-|to|through|thru|until|till|bis|au|al|a|e|and)\s*`
	yearPart  = `(?:,?\s*(?:de\s+|del\s+)?(\d{4}))?`
	// "may 5", "july 10-31, 2013", "monday, may 5th"
	mdyPattern = `\b(` + monthAlt + `)\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:` + rangeSep + `(\d{1,2})(?:st|nd|rd|th)?)?\b` + yearPart
	// "5 may", "5. mai", "5 de mayo de 2024", "10-31 july", "1er mai"
	dmyPattern = `\b(\d{1,2})` + ordSuffix + `(?:` + rangeSep + `(\d{1,2})` + ordSuffix + `)?\s*(?:of\s+|de\s+)?(` + monthAlt + `)\b\.?` + yearPart
	// "05/07/2010", "15.08.", "2024-08-15", "15/8"
	numPattern = `\b(\d{1,4})([./-])(\d{1,2})(?:([./-])(\d{2,4}))?(\.?)`

	// The patterns are run anchored, only where a match can start (see
	// findAllAt): Go's regexp has no DFA, and scanning a whole auto-reply
	// with the month alternation on its NFA cost about a millisecond.
	mdyAt = anchored(mdyPattern)
	dmyAt = anchored(dmyPattern)
	numAt = anchored(numPattern)
)

// maxDateMatches bounds the matches read per pattern.
const maxDateMatches = 50

// anchored compiles pattern to match only at the start of its input.
func anchored(pattern string) *regexp.Regexp {
	return regexp.MustCompile(`^(?:` + pattern + `)`)
}

func monthAlternation() string {
	names := make([]string, 0, len(monthNames))
	for n := range monthNames {
		names = append(names, regexp.QuoteMeta(n))
	}
	sort.Slice(names, func(i, j int) bool {
		return len(names[i]) > len(names[j]) || len(names[i]) == len(names[j]) && names[i] < names[j]
	})
	return strings.Join(names, "|")
}

// findDates returns the non-overlapping date expressions in text, in order.
func findDates(text string) []dateMatch {
	months, numbers := dateStarts(text)
	var ms []dateMatch
	for _, loc := range findAllAt(text, mdyAt, months) {
		ms = append(ms, namedMatch(text, loc, 1, 2, 3, 4))
	}
	for _, loc := range findAllAt(text, dmyAt, numbers) {
		ms = append(ms, namedMatch(text, loc, 3, 1, 2, 4))
	}
	for _, loc := range findAllAt(text, numAt, numbers) {
		if m, ok := numericMatch(text, loc); ok {
			ms = append(ms, m)
		}
	}
	sort.SliceStable(ms, func(i, j int) bool {
		return ms[i].start < ms[j].start || ms[i].start == ms[j].start && ms[i].end > ms[j].end
	})
	var out []dateMatch
	for _, m := range ms {
		if len(out) > 0 && m.start < out[len(out)-1].end {
			continue
		}
		out = append(out, m)
	}
	return out
}

// findAllAt returns what the unanchored pattern's
// FindAllStringSubmatchIndex(text, maxDateMatches) returns, given at, the
// pattern anchored, and starts, in order, every position where a match of
// the pattern can start. Matches are found left to right without overlap,
// and the leftmost-first match starting at a position is the same whether
// the search was anchored there or not, so running at only there finds the
// same matches. The patterns' leading \b was checked at each start, in the
// whole text (dateStarts).
func findAllAt(text string, at *regexp.Regexp, starts []int) [][]int {
	var out [][]int
	end := 0
	for _, i := range starts {
		if i < end {
			continue // inside the previous match
		}
		loc := at.FindStringSubmatchIndex(text[i:])
		if loc == nil {
			continue
		}
		for k := range loc {
			if loc[k] >= 0 {
				loc[k] += i
			}
		}
		if out = append(out, loc); len(out) == maxDateMatches {
			break
		}
		end = loc[1]
	}
	return out
}

// dateStarts returns, in one pass, where the date patterns can match: at a
// word start (\b: the byte before is not an ASCII letter, digit or _, as in
// RE2), months where mdyPattern can start (a month name followed by "." or
// white space: \s is space, \t, \n, \f, \r; no month name holds those, so
// the name is everything up to the first of them), numbers where
// dmyPattern and numPattern can (a digit).
func dateStarts(text string) (months, numbers []int) {
	prevWord := false
	for i := 0; i < len(text); i++ {
		c := text[i]
		word := isWordByte(c)
		if word && !prevWord {
			switch {
			case isDigit(c):
				numbers = append(numbers, i)
			case monthInitial[c] && monthAt(text, i):
				months = append(months, i)
			}
		}
		prevWord = word
	}
	return months, numbers
}

func isWordByte(c byte) bool {
	return c == '_' || isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// monthAt reports a month name at text[i:] followed by "." or white space.
func monthAt(text string, i int) bool {
	for n := 1; n <= maxMonthName && i+n < len(text); n++ {
		switch text[i+n] {
		case '.', ' ', '\t', '\n', '\f', '\r':
			_, ok := monthNames[text[i:i+n]]
			return ok
		}
	}
	return false
}

// maxMonthName is the longest month name in bytes ("septiembre").
const maxMonthName = 10

// monthInitial has the first byte of every month name.
var monthInitial = func() (set [256]bool) {
	for name := range monthNames {
		set[name[0]] = true
	}
	return set
}()

// namedMatch builds a match from a month-name pattern's groups.
func namedMatch(text string, loc []int, gMonth, gDay, gEnd, gYear int) dateMatch {
	m := dateMatch{start: loc[0], end: loc[1]}
	m.month = monthNames[group(text, loc, gMonth)]
	m.day = atoi(group(text, loc, gDay))
	if end := group(text, loc, gEnd); end != "" {
		m.day, m.isRange = atoi(end), true
	}
	m.year = atoi(group(text, loc, gYear))
	return m
}

// numericMatch accepts "a/b", "a.b." and "a.b.y"-style dates but not
// times ("10.30"), versions or phone numbers.
func numericMatch(text string, loc []int) (dateMatch, bool) {
	m := dateMatch{start: loc[0], end: loc[1]}
	first, sep, second := group(text, loc, 1), group(text, loc, 2), group(text, loc, 3)
	sep2, year, dot := group(text, loc, 4), group(text, loc, 5), group(text, loc, 6)
	if loc[1] < len(text) && (isDigit(text[loc[1]]) || dot == "" && loc[1]+1 < len(text) &&
		strings.ContainsRune("./-", rune(text[loc[1]])) && isDigit(text[loc[1]+1])) {
		return m, false
	}
	if loc[0] > 0 && strings.ContainsRune("./-:", rune(text[loc[0]-1])) {
		return m, false
	}
	switch {
	case len(first) == 4 && sep2 == sep && sep == "-" && year != "":
		m.ymd, m.year, m.month, m.day = true, atoi(first), atoi(second), atoi(year)
		return m, len(year) <= 2
	case len(first) > 2:
		return m, false
	case year != "" && sep2 == sep:
		m.a, m.b, m.year = atoi(first), atoi(second), atoi(year)
	case year == "" && (sep == "/" || sep == "." && dot == "."):
		m.a, m.b = atoi(first), atoi(second)
	default:
		return m, false
	}
	return m, true
}

func group(text string, loc []int, g int) string {
	if 2*g+1 >= len(loc) || loc[2*g] < 0 {
		return ""
	}
	return text[loc[2*g]:loc[2*g+1]]
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// resolveMatch turns a match into a date on or after sent, trying the
// numeric orders in turn. A date without a year is the next such day.
func resolveMatch(m dateMatch, sent Date, order func() []string) (Date, bool) {
	if m.month != 0 || m.ymd {
		return resolveDay(m.day, m.month, m.year, sent)
	}
	for _, o := range order() {
		day, month := m.a, m.b
		if o == "mdy" {
			day, month = m.b, m.a
		}
		if d, ok := resolveDay(day, month, m.year, sent); ok {
			return d, true
		}
	}
	return Date{}, false
}

// resolveDay validates a day and places it on or after sent, within a
// year of it (an absence announced years ahead is a misread). A date
// without a year moves to next year only when that is within half a year:
// "back on May 5" in a June auto-reply is a stale message, not next May.
func resolveDay(day, month, year int, sent Date) (Date, bool) {
	if month < 1 || month > 12 || day < 1 || day > 31 {
		return Date{}, false
	}
	if year > 0 && year < 100 {
		year += 2000
	}
	y := year
	if y == 0 {
		y = sent.Year
	}
	t := time.Date(y, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if t.Day() != day {
		return Date{}, false // February 30th and the like
	}
	if year == 0 && t.Before(sent.time()) {
		t = t.AddDate(1, 0, 0)
		if t.After(sent.time().AddDate(0, 6, 0)) {
			return Date{}, false
		}
	}
	if t.Before(sent.time()) || t.After(sent.time().AddDate(1, 0, 1)) {
		return Date{}, false
	}
	return dateOf(t), true
}
