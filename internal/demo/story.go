package demo

import (
	"fmt"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
)

// Applicant is the demo's applicant: an international medical graduate
// from Nigeria applying for urology residency in the United States.
var Applicant = Person{
	Name: "Amaka Obi", Email: "amaka.obi@example.com", Title: "Dr.",
	Position:    "International medical graduate applying in urology",
	Institution: "University of Lagos", Country: "Nigeria", Timezone: "Africa/Lagos",
}

// Person is someone in the story.
type Person struct {
	Name, Email, Title              string
	Position, Institution, Country  string
	Timezone                        string
	FirstName, LastName, Paper, Ask string // faculty only: the CSV columns and what the first email asks
}

// Scenario is what happened to one conversation before the demo starts.
type Scenario string

// The scenarios of the story.
const (
	Enthusiastic Scenario = "replied: yes, send your CV"
	PoliteNo     Scenario = "replied: a polite no"
	Coordinator  Scenario = "replied: the program coordinator, for the professor"
	OutOfOffice  Scenario = "out of office, back on a date"
	Bounced      Scenario = "bounced: user unknown"
	Silent       Scenario = "silence for more than 7 days"
	Recent       Scenario = "written to a few days ago"
	FollowedUp   Scenario = "followed up by hand, then silence"
)

// Faculty is one faculty member the applicant wrote to, and the
// conversation the demo seeds with them.
type Faculty struct {
	Person
	Scenario Scenario
	Subject  string // of the applicant's first email
	// DaysAgo is when the first email went out.
	DaysAgo int
	// Expect is the state the planner must reach on its first pass.
	Expect outreach.ThreadState
	// FirstMessageID is the first email's Message-ID, without <>, and
	// FirstSent its date.
	FirstMessageID string
	FirstSent      time.Time
}

// Domain is the faculty member's mail domain.
func (f Faculty) Domain() string { return f.Email[strings.LastIndexByte(f.Email, '@')+1:] }

// faculty is the cast, in the order the summary lists them. Institutions,
// people and domains are invented (example.edu and its kin are reserved).
var faculty = []Faculty{
	{Person: Person{FirstName: "Sarah", LastName: "Whitfield", Email: "sarah.whitfield@lakeshore.example.edu",
		Title: "Professor of Urology", Institution: "Lakeshore University Medical Center", Timezone: "America/Chicago",
		Paper: "Enhanced recovery after radical cystectomy: a multicenter cohort",
		Ask:   "I would be glad to help with data collection or chart review on your enhanced recovery work, remotely or in person."},
		Scenario: Enthusiastic, Subject: "Research opportunity in your lab: enhanced recovery after cystectomy", DaysAgo: 19,
		Expect: outreach.ThreadReplied},
	{Person: Person{FirstName: "Michael", LastName: "Grant", Email: "mgrant@hudsonvalley.example.edu",
		Title: "Associate Professor of Urology", Institution: "Hudson Valley Medical College", Timezone: "America/New_York",
		Paper: "Ureteroscopy versus shock wave lithotripsy for lower pole stones",
		Ask:   "Would a four-week clinical observership in your stone clinic be possible this spring?"},
		Scenario: PoliteNo, Subject: "Observership inquiry from an IMG applying in urology", DaysAgo: 18,
		Expect: outreach.ThreadReplied},
	{Person: Person{FirstName: "James", LastName: "Harmon", Email: "james.harmon@cascade.example.edu",
		Title: "Professor and Chair of Urology", Institution: "Cascade Health Sciences University", Timezone: "America/Los_Angeles",
		Paper: "Focal therapy for intermediate-risk prostate cancer",
		Ask:   "Is there a place for a research volunteer on your focal therapy registry?"},
		Scenario: Coordinator, Subject: "Research inquiry: focal therapy for prostate cancer", DaysAgo: 17,
		Expect: outreach.ThreadReplied},
	{Person: Person{FirstName: "Priya", LastName: "Raman", Email: "praman@greatplains.example.edu",
		Title: "Assistant Professor of Urology", Institution: "Great Plains University Hospital", Timezone: "America/Chicago",
		Paper: "Telehealth follow-up after ureteral stent placement",
		Ask:   "Could I help with the follow-up study you mention at the end of the paper?"},
		Scenario: OutOfOffice, Subject: "Question about your stent telehealth study", DaysAgo: 8,
		Expect: outreach.ThreadPaused},
	{Person: Person{FirstName: "Thomas", LastName: "Reed", Email: "t.reed@mountainstate.example.edu",
		Title: "Associate Professor of Urology", Institution: "Mountain State University", Timezone: "America/Denver",
		Paper: "Long-term outcomes of pediatric pyeloplasty",
		Ask:   "Would you consider me for a research position in pediatric urology?"},
		Scenario: Bounced, Subject: "Research position inquiry: pediatric urology", DaysAgo: 16,
		Expect: outreach.ThreadBounced},
	{Person: Person{FirstName: "Elena", LastName: "Petrova", Email: "e.petrova@thameside.example.org",
		Title: "Consultant Urologist", Institution: "Thameside University Hospitals", Timezone: "Europe/London",
		Paper: "Robotic versus open radical cystectomy: quality of life at one year",
		Ask:   "Would you accept an observer in your robotic theatre list for two weeks?"},
		Scenario: Silent, Subject: "Observership in robotic cystectomy: IMG from Nigeria", DaysAgo: 15,
		Expect: outreach.ThreadDraftProposed},
	{Person: Person{FirstName: "Robert", LastName: "Chen", Email: "robert.chen@atlantic.example.edu",
		Title: "Assistant Professor of Urology", Institution: "Atlantic Coast University", Timezone: "America/New_York",
		Paper: "Machine learning for kidney stone composition on CT",
		Ask:   "I have some Python experience and would love to volunteer on the next version of your model."},
		Scenario: Silent, Subject: "Your CT stone-composition model: research volunteer", DaysAgo: 13,
		Expect: outreach.ThreadDraftProposed},
	{Person: Person{FirstName: "Laura", LastName: "Martinez", Email: "lmartinez@gulfcoast.example.edu",
		Title: "Associate Professor of Urology", Institution: "Gulf Coast Medical School", Timezone: "America/Chicago",
		Paper: "Disparities in access to prostate MRI",
		Ask:   "Is there a way I could contribute to your health equity projects?"},
		Scenario: Silent, Subject: "Research collaboration on prostate MRI access", DaysAgo: 12,
		Expect: outreach.ThreadDraftProposed},
	{Person: Person{FirstName: "Kenji", LastName: "Watanabe", Email: "k.watanabe@osakabay.example.jp",
		Title: "Associate Professor", Institution: "Osaka Bay University Hospital", Timezone: "Asia/Tokyo",
		Paper: "Holmium laser enucleation of the prostate in glands over 150 mL",
		Ask:   "Do you accept international research fellows for short periods?"},
		Scenario: Silent, Subject: "Inquiry about research in HoLEP outcomes", DaysAgo: 11,
		Expect: outreach.ThreadDraftProposed},
	{Person: Person{FirstName: "Hannah", LastName: "Brooks", Email: "hbrooks@rockyridge.example.edu",
		Title: "Assistant Professor of Urology", Institution: "Rocky Ridge University", Timezone: "America/Denver",
		Paper: "Preventing penile prosthesis infection: a ten-year review",
		Ask:   "Would you have fifteen minutes for advice on my residency application?"},
		Scenario: Recent, Subject: "Mentorship inquiry from an IMG applying in urology", DaysAgo: 3,
		Expect: outreach.ThreadAwaitingReply},
	{Person: Person{FirstName: "Omar", LastName: "Haddad", Email: "omar.haddad@northfield.example.edu",
		Title: "Professor of Urology", Institution: "Northfield University Hospitals", Timezone: "America/New_York",
		Paper: "Sacral neuromodulation for refractory overactive bladder",
		Ask:   "Could I volunteer on your neuromodulation outcomes database?"},
		Scenario: Recent, Subject: "Research volunteering in neuromodulation", DaysAgo: 2,
		Expect: outreach.ThreadAwaitingReply},
	{Person: Person{FirstName: "Margaret", LastName: "Lin", Email: "margaret.lin@bayview.example.edu",
		Title: "Professor of Urology", Institution: "Bayview Medical Center", Timezone: "America/Los_Angeles",
		Paper: "Active surveillance for small renal masses",
		Ask:   "Would an observership in your small renal mass clinic be possible?"},
		Scenario: FollowedUp, Subject: "Observership inquiry: small renal masses clinic", DaysAgo: 40,
		Expect: outreach.ThreadClosedNoResponse},
}

// coordinatorOf is who answers for Professor Harmon.
var coordinatorOf = Person{Name: "Linda Park", Email: "urology.office@cascade.example.edu",
	Title: "Residency Program Coordinator"}

// Story is the seeded world at one instant: who was written to, what is in
// the mailboxes, and what the planner must make of it.
type Story struct {
	Now     time.Time
	Faculty []Faculty
	Mail    []Mail // in the order they are appended
}

// Mail is one message to put in a mailbox.
type Mail struct {
	Mailbox string // "INBOX" or "Sent"
	Date    time.Time
	Raw     []byte
}

// NewStory dates the story back from now: the first emails went out over
// the past three weeks (one six weeks ago), the answers came after them.
func NewStory(now time.Time) (Story, error) {
	s := Story{Now: now}
	for _, f := range faculty {
		f.Name = f.FirstName + " " + f.LastName
		f.FirstMessageID = fmt.Sprintf("demo.%s.1@mail.example.com", strings.ToLower(f.LastName))
		f.FirstSent = dayAt(now, -f.DaysAgo, 9, 40+f.DaysAgo%15, zone(Applicant.Timezone))
		mail, err := conversation(f, now)
		if err != nil {
			return Story{}, fmt.Errorf("story of %s: %w", f.Name, err)
		}
		s.Faculty = append(s.Faculty, f)
		s.Mail = append(s.Mail, mail...)
	}
	return s, nil
}

// Find returns the faculty member with this address, else the first one
// at its domain (a coordinator, a second address).
func (s Story) Find(addr string) (Faculty, bool) {
	addr = outreach.NormalizeAddress(addr)
	for _, f := range s.Faculty {
		if f.Email == addr {
			return f, true
		}
	}
	dom := addr[strings.LastIndexByte(addr, '@')+1:]
	for _, f := range s.Faculty {
		if f.Domain() == dom {
			return f, true
		}
	}
	return Faculty{}, false
}

// conversation is the mail of one scenario: the first email in Sent, then
// what came back or what the applicant sent by hand.
func conversation(f Faculty, now time.Time) ([]Mail, error) {
	lagos, sent := zone(Applicant.Timezone), f.FirstSent
	first, err := firstEmail(f, sent)
	if err != nil {
		return nil, err
	}
	out := []Mail{first}
	var more Mail
	switch f.Scenario {
	case Enthusiastic:
		more, err = HumanReply(f, f.Person, dayAt(sent, 1, 8, 12, zone(f.Timezone)), replyYes)
	case PoliteNo:
		more, err = HumanReply(f, f.Person, dayAt(sent, 2, 16, 47, zone(f.Timezone)), replyNo)
	case Coordinator:
		more, err = coordinatorReply(f, dayAt(sent, 3, 10, 5, zone(f.Timezone)))
	case OutOfOffice:
		more, err = AutoReply(f, sent.Add(2*time.Minute), returnDay(now, zone(f.Timezone)))
	case Bounced:
		more, err = Bounce(f, sent.Add(40*time.Second))
	case FollowedUp:
		more, err = followUpByHand(f, dayAt(sent, 9, 10, 2, lagos))
	}
	if err != nil || more.Raw == nil {
		return out, err
	}
	return append(out, more), nil
}

// dayAt is hh:mm in loc, days after t's calendar day there.
func dayAt(t time.Time, days, hh, mm int, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d+days, hh, mm, 0, 0, loc)
}

// returnDay is the Monday an absent professor is back: the first one at
// least three days after now, so that the thread is paused for a while.
func returnDay(now time.Time, loc *time.Location) time.Time {
	d := dayAt(now, 3, 0, 0, loc)
	for d.Weekday() != time.Monday {
		d = dayAt(d, 1, 0, 0, loc)
	}
	return d
}

func zone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC // the story's zones are valid; tzdata is embedded by the binary
	}
	return loc
}

const replyYes = `Dear Dr. Obi,

Thank you for your thoughtful note. We are starting a review of our
enhanced recovery cohort this summer and could use help with data
abstraction. Could you send me your CV and two times next week for a
short video call?

Best wishes,
Sarah Whitfield, MD
Professor of Urology`

const replyNo = `Dear Dr. Obi,

Thank you for your interest in our department. Unfortunately our
hospital's credentialing rules do not allow us to host observers who
are not enrolled in a US medical school, so I cannot offer an
observership this year.

I wish you the very best with your application.

Michael Grant`

const coordinatorText = `Dear Dr. Obi,

Dr. Harmon forwarded your email to me and asked me to reply on his
behalf. He would be glad to talk about the focal therapy registry.
Please fill in the volunteer form on our department's website, and I
will schedule a 20-minute call with him in the coming weeks.

Kind regards,
Linda Park
Residency Program Coordinator, Department of Urology
Cascade Health Sciences University`

// ReplyText is what an injected reply says when no text is given.
const ReplyText = `Dear Dr. Obi,

Apologies for the slow reply: your email was buried under a grant
deadline. Yes, I would be happy to talk. Could you send your CV?

Best regards`
