"""SQL of the synthetic data generator (driven by `kith.seed.generator`).

Every statement is set-based: rows come from `generate_series` over a range of
indexes, never from Python. Every pseudo-random value is a pure function of
(row index, seed, column): `hashint8extended(i, seed * 64 + column)` mapped to
[0, 1). `random()` is never used, so the same seed gives the same rows (ids
aside) in any session and at any chunk size.

Each generating query computes its hash draws once per row in an inner
subquery fenced with `OFFSET 0` (so the planner cannot inline them and
evaluate the same expression several times), derives indexes from them in a
middle level, and builds the column values at the top.

Vocabularies are Python lists rendered into SQL array literals here, once, at
import time (they are constants of the statements, not parameters).

Parameters common to the generating statements:
    $1 tenant_id (bigint)   $2 seed (bigint)   $3 first index   $4 last index
    $5 anchor (timestamptz: "now" of the synthetic world; start of the UTC day by default)
"""

from __future__ import annotations

# --------------------------------------------------------------------------- vocabularies

# (display, ascii slug for the email address)
FIRST_NAMES: list[tuple[str, str]] = [
    ("James", "james"),
    ("Mary", "mary"),
    ("John", "john"),
    ("Patricia", "patricia"),
    ("Robert", "robert"),
    ("Jennifer", "jennifer"),
    ("Michael", "michael"),
    ("Linda", "linda"),
    ("William", "william"),
    ("Elizabeth", "elizabeth"),
    ("David", "david"),
    ("Barbara", "barbara"),
    ("Richard", "richard"),
    ("Susan", "susan"),
    ("Joseph", "joseph"),
    ("Jessica", "jessica"),
    ("Thomas", "thomas"),
    ("Sarah", "sarah"),
    ("Charles", "charles"),
    ("Karen", "karen"),
    ("Daniel", "daniel"),
    ("Nancy", "nancy"),
    ("Matthew", "matthew"),
    ("Lisa", "lisa"),
    ("Anthony", "anthony"),
    ("Betty", "betty"),
    ("Mark", "mark"),
    ("Margaret", "margaret"),
    ("Steven", "steven"),
    ("Sandra", "sandra"),
    ("Paul", "paul"),
    ("Ashley", "ashley"),
    ("Andrew", "andrew"),
    ("Emily", "emily"),
    ("Joshua", "joshua"),
    ("Donna", "donna"),
    ("Kevin", "kevin"),
    ("Michelle", "michelle"),
    ("Brian", "brian"),
    ("Carol", "carol"),
    ("George", "george"),
    ("Amanda", "amanda"),
    ("Timothy", "timothy"),
    ("Melissa", "melissa"),
    ("Ronald", "ronald"),
    ("Deborah", "deborah"),
    ("Jason", "jason"),
    ("Stephanie", "stephanie"),
    ("Ryan", "ryan"),
    ("Rebecca", "rebecca"),
    ("Jacob", "jacob"),
    ("Laura", "laura"),
    ("Gary", "gary"),
    ("Sharon", "sharon"),
    ("Nicholas", "nicholas"),
    ("Cynthia", "cynthia"),
    ("Eric", "eric"),
    ("Kathleen", "kathleen"),
    ("Jonathan", "jonathan"),
    ("Amy", "amy"),
    ("José", "jose"),
    ("María", "maria"),
    ("Zoë", "zoe"),
    ("Chloé", "chloe"),
    ("François", "francois"),
    ("Hélène", "helene"),
    ("Søren", "soren"),
    ("Åsa", "asa"),
    ("Björn", "bjorn"),
    ("Jürgen", "jurgen"),
    ("Łukasz", "lukasz"),
    ("Małgorzata", "malgorzata"),
    ("Zoltán", "zoltan"),
    ("Ines", "ines"),
    ("João", "joao"),
    ("Renée", "renee"),
    ("Noël", "noel"),
    ("Siobhán", "siobhan"),
    ("Dagný", "dagny"),
    ("Mateus", "mateus"),
    ("Priya", "priya"),
    ("Arjun", "arjun"),
    ("Aisha", "aisha"),
    ("Omar", "omar"),
    ("Fatima", "fatima"),
    ("Yusuf", "yusuf"),
    ("Kenji", "kenji"),
    ("Yuki", "yuki"),
    ("Mei", "mei"),
    ("Wei", "wei"),
    ("Ngozi", "ngozi"),
    ("Kwame", "kwame"),
    ("Olga", "olga"),
    ("Dmitri", "dmitri"),
    ("Anaïs", "anais"),
    ("Çağla", "cagla"),
]

LAST_NAMES: list[tuple[str, str]] = [
    ("Smith", "smith"),
    ("Johnson", "johnson"),
    ("Williams", "williams"),
    ("Brown", "brown"),
    ("Jones", "jones"),
    ("Garcia", "garcia"),
    ("Miller", "miller"),
    ("Davis", "davis"),
    ("Rodriguez", "rodriguez"),
    ("Martinez", "martinez"),
    ("Hernandez", "hernandez"),
    ("Lopez", "lopez"),
    ("Gonzalez", "gonzalez"),
    ("Wilson", "wilson"),
    ("Anderson", "anderson"),
    ("Thomas", "thomas"),
    ("Taylor", "taylor"),
    ("Moore", "moore"),
    ("Jackson", "jackson"),
    ("Martin", "martin"),
    ("Lee", "lee"),
    ("Perez", "perez"),
    ("Thompson", "thompson"),
    ("White", "white"),
    ("Harris", "harris"),
    ("Sanchez", "sanchez"),
    ("Clark", "clark"),
    ("Ramirez", "ramirez"),
    ("Lewis", "lewis"),
    ("Robinson", "robinson"),
    ("Walker", "walker"),
    ("Young", "young"),
    ("Allen", "allen"),
    ("King", "king"),
    ("Wright", "wright"),
    ("Scott", "scott"),
    ("Torres", "torres"),
    ("Nguyen", "nguyen"),
    ("Hill", "hill"),
    ("Flores", "flores"),
    ("Green", "green"),
    ("Adams", "adams"),
    ("Nelson", "nelson"),
    ("Baker", "baker"),
    ("Hall", "hall"),
    ("Rivera", "rivera"),
    ("Campbell", "campbell"),
    ("Mitchell", "mitchell"),
    ("Carter", "carter"),
    ("Roberts", "roberts"),
    ("O'Brien", "obrien"),
    ("McAllister", "mcallister"),
    ("Núñez", "nunez"),
    ("Ødegaard", "odegaard"),
    ("Müller", "muller"),
    ("Schäfer", "schafer"),
    ("Dvořák", "dvorak"),
    ("Wójcik", "wojcik"),
    ("Kowalczyk", "kowalczyk"),
    ("Johansson", "johansson"),
    ("Håkansson", "hakansson"),
    ("Lefèvre", "lefevre"),
    ("Gonçalves", "goncalves"),
    ("Öztürk", "ozturk"),
    ("Papadopoulos", "papadopoulos"),
    ("Ivanova", "ivanova"),
    ("Kuznetsov", "kuznetsov"),
    ("Sato", "sato"),
    ("Tanaka", "tanaka"),
    ("Watanabe", "watanabe"),
    ("Kim", "kim"),
    ("Park", "park"),
    ("Chen", "chen"),
    ("Wang", "wang"),
    ("Patel", "patel"),
    ("Sharma", "sharma"),
    ("Okafor", "okafor"),
    ("Mensah", "mensah"),
    ("Haddad", "haddad"),
    ("Cohen", "cohen"),
    ("van der Berg", "vanderberg"),
    ("de la Cruz", "delacruz"),
    ("Fitzgerald", "fitzgerald"),
    ("Ó Súilleabháin", "osuilleabhain"),
]

# Whole names written family-name first, without a space (CJK).
CJK_NAMES: list[tuple[str, str]] = [
    ("李雷", "li.lei"),
    ("韩梅梅", "han.meimei"),
    ("王芳", "wang.fang"),
    ("张伟", "zhang.wei"),
    ("刘洋", "liu.yang"),
    ("陈静", "chen.jing"),
    ("田中太郎", "tanaka.taro"),
    ("佐藤花子", "sato.hanako"),
    ("鈴木一郎", "suzuki.ichiro"),
    ("김민준", "kim.minjun"),
    ("이서연", "lee.seoyeon"),
    ("박지훈", "park.jihoon"),
]
CJK_SHARE = 0.03

# Companies: ROOTS x SUFFIXES = 2,000 distinct names. Index k -> root k % 50, suffix k / 50.
COMPANY_ROOTS: list[tuple[str, str]] = [
    ("Acme", "acme"),
    ("Globex", "globex"),
    ("Initech", "initech"),
    ("Umbrella", "umbrella"),
    ("Stark", "stark"),
    ("Wayne", "wayne"),
    ("Hooli", "hooli"),
    ("Pied Piper", "piedpiper"),
    ("Vandelay", "vandelay"),
    ("Soylent", "soylent"),
    ("Cyberdyne", "cyberdyne"),
    ("Tyrell", "tyrell"),
    ("Wonka", "wonka"),
    ("Gringotts", "gringotts"),
    ("Aperture", "aperture"),
    ("Massive Dynamic", "massivedynamic"),
    ("Oscorp", "oscorp"),
    ("Monarch", "monarch"),
    ("Nakatomi", "nakatomi"),
    ("Dunder Mifflin", "dundermifflin"),
    ("Sterling Cooper", "sterlingcooper"),
    ("Blue Sun", "bluesun"),
    ("Wernham Hogg", "wernhamhogg"),
    ("Prestige", "prestige"),
    ("Northwind", "northwind"),
    ("Contoso", "contoso"),
    ("Fabrikam", "fabrikam"),
    ("Tailspin", "tailspin"),
    ("Litware", "litware"),
    ("Adatum", "adatum"),
    ("Lucerne", "lucerne"),
    ("Woodgrove", "woodgrove"),
    ("Proseware", "proseware"),
    ("Fourth Coffee", "fourthcoffee"),
    ("Wingtip", "wingtip"),
    ("Alpine", "alpine"),
    ("Bluewave", "bluewave"),
    ("Crestline", "crestline"),
    ("Driftwood", "driftwood"),
    ("Evergreen", "evergreen"),
    ("Foxglove", "foxglove"),
    ("Granite", "granite"),
    ("Harbor", "harbor"),
    ("Ironclad", "ironclad"),
    ("Juniper", "juniper"),
    ("Kestrel", "kestrel"),
    ("Lumen", "lumen"),
    ("Nordlys", "nordlys"),
    ("Zürich Re", "zurichre"),
    ("Ñandú", "nandu"),
]
COMPANY_SUFFIXES: list[tuple[str, str]] = [
    ("Labs", "labs"),
    ("Systems", "systems"),
    ("Inc.", "inc"),
    ("GmbH", "gmbh"),
    ("Ltd", "ltd"),
    ("Group", "group"),
    ("Holdings", "holdings"),
    ("Technologies", "tech"),
    ("Capital", "capital"),
    ("Partners", "partners"),
    ("Ventures", "ventures"),
    ("Media", "media"),
    ("Health", "health"),
    ("Bank", "bank"),
    ("Insurance", "insurance"),
    ("Logistics", "logistics"),
    ("Energy", "energy"),
    ("Foods", "foods"),
    ("Robotics", "robotics"),
    ("Analytics", "analytics"),
    ("Software", "software"),
    ("Networks", "networks"),
    ("Studios", "studios"),
    ("Consulting", "consulting"),
    ("Pharma", "pharma"),
    ("Motors", "motors"),
    ("Aerospace", "aerospace"),
    ("Biotech", "biotech"),
    ("Retail", "retail"),
    ("Security", "security"),
    ("Cloud", "cloud"),
    ("Games", "games"),
    ("Mobility", "mobility"),
    ("Materials", "materials"),
    ("Foundation", "foundation"),
    ("Cooperative", "coop"),
    ("S.A.", "sa"),
    ("AB", "ab"),
    ("K.K.", "kk"),
    ("Pty", "pty"),
]
N_COMPANIES = len(COMPANY_ROOTS) * len(COMPANY_SUFFIXES)  # 2,000
NULL_COMPANY_SHARE = 0.15

TITLES: list[str] = [
    "Software Engineer",
    "Senior Software Engineer",
    "Staff Engineer",
    "Engineering Manager",
    "VP Engineering",
    "CTO",
    "CEO",
    "COO",
    "CFO",
    "Founder",
    "Co-founder",
    "Product Manager",
    "Senior Product Manager",
    "Head of Product",
    "Designer",
    "Product Designer",
    "Data Scientist",
    "Data Engineer",
    "Account Executive",
    "Sales Director",
    "Marketing Manager",
    "Head of Marketing",
    "Recruiter",
    "Talent Partner",
    "Investor",
    "Partner",
    "Principal",
    "Analyst",
    "Consultant",
    "Operations Manager",
    "Customer Success Manager",
    "Journalist",
    "Professor",
    "Researcher",
    "Attorney",
    "Physician",
    "Architect",
    "Teacher",
    "Student",
    "Advisor",
]
NULL_TITLE_SHARE = 0.10

TAGS: list[str] = [
    "friend",
    "family",
    "work",
    "client",
    "investor",
    "mentor",
    "mentee",
    "recruiter",
    "college",
    "school",
    "neighbor",
    "conference",
    "vip",
    "prospect",
    "partner",
    "vendor",
    "press",
    "advisor",
    "alumni",
    "board",
    "engineering",
    "design",
    "sales",
    "marketing",
    "founder",
    "hiring",
    "book-club",
    "climbing",
    "running",
    "tennis",
    "music",
    "travel",
    "berlin",
    "london",
    "new-york",
    "san-francisco",
    "tokyo",
    "lisbon",
    "follow-up",
    "intro",
]

CADENCES: list[int] = [7, 14, 30, 60, 90, 180, 365]
CADENCE_SHARE = 0.40
BIRTHDAY_SHARE = 0.70
BIRTH_YEAR_SHARE = 0.50  # of those with a birthday
PHONE_SHARE = 0.60
LINK_SHARE = 0.30

EMAIL_DOMAINS: list[str] = ["example.com", "example.org", "example.net", "mail.example", "inbox.example"]
WORK_EMAIL_SHARE = 0.60  # of contacts with a company: an address at the company's domain

CHANNELS: list[str] = ["email", "sms", "chat", "linkedin"]

CONVERSATION_SUBJECTS: list[str] = [
    "Catching up",
    "Coffee next week?",
    "Intro",
    "Quick question",
    "Project kickoff",
    "Dinner plans",
    "Conference follow-up",
    "Hiring",
    "Contract review",
    "Birthday!",
    "Trip to Lisbon",
    "Board meeting",
    "Feedback on the draft",
    "Offsite",
    "Fundraising",
    "Reading list",
    "Weekend climbing",
    "Moving house",
    "Podcast guest?",
    "Références",
]

MESSAGE_SUBJECTS: list[str] = [
    "Re: catching up",
    "Quick question",
    "Following up",
    "Thanks!",
    "Next steps",
    "Re: coffee",
    "Notes from today",
    "Intro",
    "Draft attached",
    "Re: dinner",
    "Schedule",
    "Re: Re: the plan",
    "Congrats!",
    "Checking in",
    "Ideas",
    "Update",
]
GREETINGS: list[str] = [
    "Hi!",
    "Hey,",
    "Hello,",
    "Hi there,",
    "Morning!",
    "Good evening,",
    "Yo,",
    "Hallo,",
    "¡Hola!",
    "Bonjour,",
]
LINES: list[str] = [
    "Great to see you last week, let's do it again soon.",
    "Are you free for a call on Thursday afternoon?",
    "I read the draft and left a few comments in the doc.",
    "Could you introduce me to someone on the platform team?",
    "Sharing the notes from our meeting, let me know what I missed.",
    "Congrats on the new role, well deserved!",
    "We're hiring two engineers, know anyone good?",
    "The contract looks fine, I'll sign it tomorrow.",
    "Happy birthday! Hope the year ahead is a great one.",
    "Thanks for the book recommendation, halfway through already.",
    "Running late, be there in ten minutes.",
    "Can we move our catch-up to next week?",
    "Here's the deck for Monday, feedback welcome.",
    "Let's grab lunch when you're back in town.",
    "I'll send over the numbers by end of day.",
    "Loved the talk — the part about caching was spot on.",
]
CLOSINGS: list[str] = ["Cheers", "Best", "Thanks!", "Talk soon", "—", "xx", "Regards", "Speak soon", "Ciao", "Saludos"]

MENTION_SINGLE: list[str] = [
    "{a} raises $40M Series B",
    "{a} names new CEO",
    "{a} opens office in Lisbon",
    "{a} lays off 8% of staff",
    "{a} launches AI assistant",
    "{a} reports record quarter",
    "{a} files for IPO",
    "{a} hit by data breach",
    "{a} expands to Japan",
    "{a} wins industry award",
]
MENTION_PAIR: list[str] = [
    "{a} acquires {b}",
    "{a} partners with {b}",
    "{a} and {b} announce merger",
    "{a} sues {b} over patent",
    "{a} poaches executives from {b}",
    "{b} invests in {a}",
]
MENTION_PAIR_SHARE = 0.35
MENTION_SOURCES: list[str] = ["TechCrunch", "Reuters", "Bloomberg", "The Verge", "Handelsblatt", "Nikkei"]


# --------------------------------------------------------------------------- SQL helpers


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def text_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(_lit(v) for v in values) + "]::text[]"


def int_array(values: list[int]) -> str:
    return "ARRAY[" + ", ".join(str(v) for v in values) + "]::int[]"


def u(expr: str, column: int) -> str:
    """A uniform draw in [0, 1) for row `expr` and `column` (a stable hash, never random())."""
    if not 0 <= column < 64:
        raise ValueError("column salt must be in [0, 64)")
    return f"((hashint8extended({expr}, $2::bigint * 64 + {column}) & 2147483647)::float8 / 2147483648.0)"


def h(expr: str, column: int) -> str:
    """A non-negative 31-bit stable hash (for digits)."""
    return f"(hashint8extended({expr}, $2::bigint * 64 + {column}) & 2147483647)"


def pick(array_sql: str, n: int, index_expr: str) -> str:
    """`array[1 + index]` where index is an integer expression in [0, n)."""
    return f"({array_sql})[1 + ({index_expr})]"


COMPANY_NAMES_SQL_ROOT = text_array([r for r, _ in COMPANY_ROOTS])
COMPANY_NAMES_SQL_SUFFIX = text_array([s for s, _ in COMPANY_SUFFIXES])
COMPANY_SLUGS_SQL_ROOT = text_array([r for _, r in COMPANY_ROOTS])
COMPANY_SLUGS_SQL_SUFFIX = text_array([s for _, s in COMPANY_SUFFIXES])
_NR = len(COMPANY_ROOTS)


def company_name(k: str) -> str:
    """Company name of index expression `k` (an int in [0, N_COMPANIES))."""
    return f"({COMPANY_NAMES_SQL_ROOT})[1 + ({k}) % {_NR}] || ' ' || ({COMPANY_NAMES_SQL_SUFFIX})[1 + ({k}) / {_NR}]"


def company_slug(k: str) -> str:
    return f"({COMPANY_SLUGS_SQL_ROOT})[1 + ({k}) % {_NR}] || ({COMPANY_SLUGS_SQL_SUFFIX})[1 + ({k}) / {_NR}]"


def skewed_company(uexpr: str, among: str = str(N_COMPANIES)) -> str:
    """Company index in [0, among) with a heavy head: P(k=0) = (1/2000)^(1/3) ~ 8%, a long tail."""
    return f"floor(({among}) * ({uexpr}) * ({uexpr}) * ({uexpr}))::int"


# --------------------------------------------------------------------------- session

# One transaction for the whole seed (see generator.py); set LOCAL to it (set_config(..., true))
# and put back afterwards, in case that transaction is the caller's and goes on.
SESSION_SETTINGS: dict[str, str] = {
    "synchronous_commit": "off",
    "statement_timeout": "0",
    "lock_timeout": "0",
    # The hash joins against the index maps and the per-chunk sort stay in memory.
    "work_mem": "512MB",
    # The statements are big but simple; compiling them costs more than it saves on a
    # 1M-row chunk, and makes timings erratic.
    "jit": "off",
}

# Also takes the locks the foreign-key checks would take (tenant and user rows, FOR KEY SHARE):
# nobody can delete them while the seed runs, even when the checks themselves are skipped.
CHECK_TENANT = """
SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1 FOR KEY SHARE) AS tenant_ok,
       EXISTS (SELECT 1 FROM users WHERE id = $2 AND tenant_id = $1 FOR KEY SHARE) AS user_ok,
       EXISTS (SELECT 1 FROM conversations WHERE tenant_id = $1 AND source = 'synthetic') AS seeded
"""

SEEDED_TABLES = ["contacts", "contact_keys", "conversations", "messages", "mentions"]

# The foreign-key checks of the seeded rows cost ~40% of the time (three per message, each an
# index probe run through SPI). Every key written comes from the rows this transaction inserted
# (the temp maps) or from the tenant/user rows locked above, so the checks cannot fail; they are
# skipped with session_replication_role = replica -- but only when that is allowed (superuser)
# and skips nothing else: if any table we write has a trigger of its own (not a constraint
# trigger), replica mode would silently skip it, so the checks stay on.
CAN_SKIP_FK_CHECKS = """
SELECT current_setting('is_superuser') = 'on'
   AND NOT EXISTS (
       SELECT 1 FROM pg_trigger
       WHERE tgrelid = ANY ($1::text[]::regclass[]) AND NOT tgisinternal
   )
   AND NOT EXISTS (
       SELECT 1 FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
       WHERE r.ev_class = ANY ($1::text[]::regclass[]) AND r.rulename <> '_RETURN'
   )
"""

# --------------------------------------------------------------------------- temp maps

CREATE_TEMP = """
CREATE TEMP TABLE seed_contact_ids (id bigint NOT NULL) ON COMMIT DROP;
CREATE TEMP TABLE seed_conv_ids (id bigint NOT NULL, channel text NOT NULL) ON COMMIT DROP;
"""

# Contact index (0-based, generation order) -> contact id, from the ids the inserts returned,
# with the contact's range [msg_lo, msg_hi) of message indexes (see INSERT_MESSAGES).
#
# Interaction counts are skewed: a share ($3) of the contacts is active; the active ones are put
# in a random order (by a hash) and the one of rank r gets a weight ~ r^(-2/3) (a Zipf law, the
# shape of drawing each message's contact as floor(m * u^3)), jittered by a factor in [0.5, 1.5).
# So the top 1% of contacts hold about a fifth to a quarter of the messages, the biggest a few
# hundred (small), thousands (medium) or tens of thousands (large), the active tail a handful
# each, and the inactive contacts none. Weights are integers and the message ranges are their exact integer
# partition of [0, $1): every message index belongs to exactly one contact, on any platform.
#
# $1 messages (N), $2 seed, $3 active share
BUILD_CONTACT_MAP = f"""
CREATE TEMP TABLE seed_contact_map ON COMMIT DROP AS
SELECT idx, id,
       div($1::bigint * (cum - w), total)::bigint AS msg_lo,
       div($1::bigint * cum, total)::bigint AS msg_hi
FROM (
    SELECT idx, id, w, sum(w) OVER (ORDER BY idx) AS cum, sum(w) OVER () AS total
    FROM (
        SELECT idx, id,
               CASE WHEN active
                    THEN round(1e9::float8 * power((row_number() OVER (PARTITION BY active ORDER BY u_rank, idx))::float8, -2.0::float8 / 3)
                               * (0.5 + u_jitter))::bigint
                    ELSE 0::bigint END AS w
        FROM (
            SELECT idx, id,
                   {u("idx", 27)} < $3::float8 AS active,
                   {u("idx", 28)} AS u_rank,
                   {u("idx", 29)} AS u_jitter
            FROM (SELECT (row_number() OVER (ORDER BY id) - 1)::bigint AS idx, id FROM seed_contact_ids) a
            OFFSET 0
        ) b
    ) c
) d
"""

BUILD_CONV_MAP = """
CREATE TEMP TABLE seed_conv_map ON COMMIT DROP AS
SELECT (row_number() OVER (ORDER BY id) - 1)::bigint AS idx, id, channel FROM seed_conv_ids;
ANALYZE seed_conv_map;
"""

# --------------------------------------------------------------------------- contacts

_NF, _NL, _NC = len(FIRST_NAMES), len(LAST_NAMES), len(CJK_NAMES)
_FIRST = text_array([n for n, _ in FIRST_NAMES])
_FIRST_SLUG = text_array([s for _, s in FIRST_NAMES])
_LAST = text_array([n for n, _ in LAST_NAMES])
_LAST_SLUG = text_array([s for _, s in LAST_NAMES])
_CJK = text_array([n for n, _ in CJK_NAMES])
_CJK_SLUG = text_array([s for _, s in CJK_NAMES])
_TAGS = text_array(TAGS)
_NT = len(TAGS)

# Column salts: contacts 1-23, conversations 24-26, contact weights 27-29, messages 30-37, mentions
# 40-45: distinct per table, so row i of one table is not correlated with row i of another.
_C = {
    "cjk": 1,
    "first": 2,
    "last": 3,
    "nocompany": 4,
    "company": 5,
    "title": 6,
    "ntags": 7,
    "tag_a": 8,
    "tag_b": 9,
    "tag_c": 10,
    "tag_d": 11,
    "bday": 12,
    "doy": 13,
    "year_known": 14,
    "year": 15,
    "cadence": 16,
    "cadence_pick": 17,
    "phone": 18,
    "phone_digits": 19,
    "created": 20,
    "domain": 21,
    "link": 22,
    "notitle": 23,
}

INSERT_CONTACTS = f"""
WITH ins AS (
    INSERT INTO contacts (
        tenant_id, full_name, emails, phones, company, title, tags,
        birthday_month, birthday_day, birthday_year, cadence_days, links, created_at, updated_at
    )
    SELECT
        $1,
        d.full_name,
        ARRAY[d.slug || '.' || d.i || '@' ||
              CASE WHEN d.company_k IS NOT NULL AND d.u_domain < {WORK_EMAIL_SHARE}
                   THEN {company_slug("d.company_k")} || '.example'
                   ELSE {pick(text_array(EMAIL_DOMAINS), len(EMAIL_DOMAINS), f"floor(d.u_domain * {len(EMAIL_DOMAINS)})::int")}
              END],
        CASE WHEN d.u_phone < {PHONE_SHARE}
             THEN ARRAY['+1 555 ' || lpad((d.phone_digits % 10000000)::text, 7, '0')]
             ELSE '{{}}'::text[] END,
        CASE WHEN d.company_k IS NOT NULL THEN {company_name("d.company_k")} END,
        CASE WHEN d.u_notitle >= {NULL_TITLE_SHARE} THEN {pick(text_array(TITLES), len(TITLES), f"floor(d.u_title * {len(TITLES)})::int")} END,
        CASE WHEN d.ntags = 0 THEN '{{}}'::text[]
             ELSE array_remove(ARRAY[
                 ({_TAGS})[1 + d.ta],
                 CASE WHEN d.ntags >= 2 AND d.tb <> d.ta THEN ({_TAGS})[1 + d.tb] END,
                 CASE WHEN d.ntags >= 3 AND d.tc <> d.ta AND d.tc <> d.tb THEN ({_TAGS})[1 + d.tc] END,
                 CASE WHEN d.ntags >= 4 AND d.td <> d.ta AND d.td <> d.tb AND d.td <> d.tc THEN ({_TAGS})[1 + d.td] END
             ], NULL) END,
        CASE WHEN d.has_bday THEN extract(month FROM d.bday)::smallint END,
        CASE WHEN d.has_bday THEN extract(day FROM d.bday)::smallint END,
        CASE WHEN d.has_bday AND d.u_year_known < {BIRTH_YEAR_SHARE} THEN
             -- A Feb 29 birthday needs a leap year: 1952..2004 step 4; otherwise 1950..2005.
             CASE WHEN extract(month FROM d.bday) = 2 AND extract(day FROM d.bday) = 29
                  THEN (1952 + 4 * floor(d.u_year * 14))::smallint
                  ELSE (1950 + floor(d.u_year * 56))::smallint END
        END,
        CASE WHEN d.u_cadence < {CADENCE_SHARE} THEN {pick(int_array(CADENCES), len(CADENCES), f"floor(d.u_cadence_pick * {len(CADENCES)})::int")} END,
        CASE WHEN d.u_link < {LINK_SHARE} THEN ARRAY['https://www.linkedin.com/in/' || replace(d.slug, '.', '-') || '-' || d.i] ELSE '{{}}'::text[] END,
        d.created_at,
        d.created_at
    FROM (
        SELECT
            r.i,
            CASE WHEN r.u_cjk < {CJK_SHARE}
                 THEN ({_CJK})[1 + floor(r.u_first * {_NC})::int]
                 ELSE ({_FIRST})[1 + floor(r.u_first * {_NF})::int] || ' ' || ({_LAST})[1 + floor(r.u_last * {_NL})::int]
            END AS full_name,
            CASE WHEN r.u_cjk < {CJK_SHARE}
                 THEN ({_CJK_SLUG})[1 + floor(r.u_first * {_NC})::int]
                 ELSE ({_FIRST_SLUG})[1 + floor(r.u_first * {_NF})::int] || '.' || ({_LAST_SLUG})[1 + floor(r.u_last * {_NL})::int]
            END AS slug,
            CASE WHEN r.u_nocompany >= {NULL_COMPANY_SHARE} THEN {skewed_company("r.u_company")} END AS company_k,
            r.u_notitle, r.u_title, r.u_domain, r.u_phone, r.phone_digits, r.u_year_known, r.u_year,
            r.u_cadence, r.u_cadence_pick, r.u_link,
            floor(r.u_ntags * 5)::int AS ntags,
            floor({_NT} * r.u_ta * r.u_ta)::int AS ta,
            floor({_NT} * r.u_tb * r.u_tb)::int AS tb,
            floor({_NT} * r.u_tc * r.u_tc)::int AS tc,
            floor({_NT} * r.u_td * r.u_td)::int AS td,
            r.u_bday < {BIRTHDAY_SHARE} AS has_bday,
            -- Every day of a leap year equally likely: Feb 29 gets its proportional 1/366.
            DATE '2000-01-01' + floor(r.u_doy * 366)::int AS bday,
            $5::timestamptz - floor(r.u_created * {5 * 365 * 86400})::bigint * interval '1 second' AS created_at
        FROM (
            SELECT
                i,
                {u("i", _C["cjk"])} AS u_cjk,
                {u("i", _C["first"])} AS u_first,
                {u("i", _C["last"])} AS u_last,
                {u("i", _C["nocompany"])} AS u_nocompany,
                {u("i", _C["company"])} AS u_company,
                {u("i", _C["notitle"])} AS u_notitle,
                {u("i", _C["title"])} AS u_title,
                {u("i", _C["ntags"])} AS u_ntags,
                {u("i", _C["tag_a"])} AS u_ta,
                {u("i", _C["tag_b"])} AS u_tb,
                {u("i", _C["tag_c"])} AS u_tc,
                {u("i", _C["tag_d"])} AS u_td,
                {u("i", _C["bday"])} AS u_bday,
                {u("i", _C["doy"])} AS u_doy,
                {u("i", _C["year_known"])} AS u_year_known,
                {u("i", _C["year"])} AS u_year,
                {u("i", _C["cadence"])} AS u_cadence,
                {u("i", _C["cadence_pick"])} AS u_cadence_pick,
                {u("i", _C["phone"])} AS u_phone,
                {h("i", _C["phone_digits"])} AS phone_digits,
                {u("i", _C["created"])} AS u_created,
                {u("i", _C["domain"])} AS u_domain,
                {u("i", _C["link"])} AS u_link
            FROM generate_series($3::bigint, $4::bigint) AS g(i)
            OFFSET 0
        ) r
        OFFSET 0
    ) d
    RETURNING id, emails[1] AS email
),
keys AS (
    INSERT INTO contact_keys (tenant_id, contact_id, kind, value)
    SELECT $1, id, 'email', lower(email) FROM ins
)
INSERT INTO seed_contact_ids (id) SELECT id FROM ins
"""

# --------------------------------------------------------------------------- conversations

# $1 tenant, $2 seed, $3 first, $4 last, $5 anchor, $6 user_id
INSERT_CONVERSATIONS = f"""
WITH ins AS (
    INSERT INTO conversations (tenant_id, user_id, source, external_id, channel, subject, created_at, updated_at)
    SELECT $1, $6, 'synthetic', 'conv-' || i,
           {pick(text_array(CHANNELS), len(CHANNELS), f"floor({u('i', 24)} * {len(CHANNELS)})::int")},
           {pick(text_array(CONVERSATION_SUBJECTS), len(CONVERSATION_SUBJECTS), f"floor({u('i', 25)} * {len(CONVERSATION_SUBJECTS)})::int")},
           -- Opened before the 3-year window of its messages.
           $5::timestamptz - interval '3 years' - floor({u("i", 26)} * 90 * 86400)::bigint * interval '1 second',
           $5::timestamptz - interval '3 years' - floor({u("i", 26)} * 90 * 86400)::bigint * interval '1 second'
    FROM generate_series($3::bigint, $4::bigint) AS g(i)
    RETURNING id, channel
)
INSERT INTO seed_conv_ids (id, channel) SELECT id, channel FROM ins
"""

# --------------------------------------------------------------------------- messages

# $1 tenant, $2 seed, $3 first, $4 last (message indexes), $5 anchor, $6 contacts (n), $7 conversations (c)
#
# Message i belongs to the contact whose [msg_lo, msg_hi) holds it (BUILD_CONTACT_MAP): message
# indexes run in contact order, and the conversation of contact idx is idx * c / n (a conversation
# gathers a block of consecutive contacts). Inserted sorted by (contact id, sent_at), every message
# index (contact, conversation, external id, primary key) is filled at its right edge instead of
# at random places: each index page is written once, not once per chunk. This, not the expression
# evaluation, is what makes the large size fast on a small shared_buffers.
_M = {"sent": 31, "direction": 32, "subject": 33, "greet": 34, "line": 35, "close": 36, "line2": 37}
MESSAGE_WINDOW_SECONDS = 3 * 365 * 86400

INSERT_MESSAGES = f"""
INSERT INTO messages (
    tenant_id, conversation_id, contact_id, channel, direction, sent_at, subject, body,
    source, external_id, created_at
)
SELECT
    $1, m.conversation_id, m.contact_id, m.channel, m.direction, m.sent_at,
    m.subject, m.body, 'synthetic', 'msg-' || m.i, m.sent_at
FROM (
    SELECT
        r.i, r.contact_id, r.conversation_id, r.channel,
        -- Skewed toward recent: P(within the last x of the window) = sqrt(x).
        $5::timestamptz - floor(r.u_sent * r.u_sent * {MESSAGE_WINDOW_SECONDS})::bigint * interval '1 second' AS sent_at,
        CASE WHEN r.u_direction < 0.55 THEN 'in' ELSE 'out' END AS direction,
        {pick(text_array(MESSAGE_SUBJECTS), len(MESSAGE_SUBJECTS), f"floor(r.u_subject * {len(MESSAGE_SUBJECTS)})::int")} AS subject,
        {pick(text_array(GREETINGS), len(GREETINGS), f"floor(r.u_greet * {len(GREETINGS)})::int")} || ' ' ||
        {pick(text_array(LINES), len(LINES), f"floor(r.u_line * {len(LINES)})::int")} || ' ' ||
        CASE WHEN r.u_line2 < 0.5 THEN {pick(text_array(LINES), len(LINES), f"floor(r.u_line2 * {2 * len(LINES)})::int")} || ' ' ELSE '' END ||
        {pick(text_array(CLOSINGS), len(CLOSINGS), f"floor(r.u_close * {len(CLOSINGS)})::int")} AS body
    FROM (
        SELECT
            g.i, ct.id AS contact_id, cv.id AS conversation_id, cv.channel,
            {u("g.i", _M["sent"])} AS u_sent,
            {u("g.i", _M["direction"])} AS u_direction,
            {u("g.i", _M["subject"])} AS u_subject,
            {u("g.i", _M["greet"])} AS u_greet,
            {u("g.i", _M["line"])} AS u_line,
            {u("g.i", _M["line2"])} AS u_line2,
            {u("g.i", _M["close"])} AS u_close
        FROM seed_contact_map ct
        JOIN seed_conv_map cv ON cv.idx = ct.idx * $7::bigint / $6::bigint
        CROSS JOIN LATERAL generate_series(greatest(ct.msg_lo, $3::bigint), least(ct.msg_hi, $4::bigint + 1) - 1) AS g(i)
        WHERE ct.msg_hi > $3::bigint AND ct.msg_lo <= $4::bigint
        OFFSET 0
    ) r
    OFFSET 0
) m
ORDER BY m.contact_id, m.sent_at
"""

# --------------------------------------------------------------------------- mentions

# $1 tenant, $2 seed, $3 first, $4 last, $5 anchor, $6 companies to draw from (the first k of the
# vocabulary, i.e. the biggest: a small tenant's contacts only cover the head of the 2,000), $7 the
# days before the anchor the mentions are published over
_MS = text_array(MENTION_SINGLE)
_MP = text_array(MENTION_PAIR)

_KA = skewed_company("r.u_ka", "$6::int")
_KB = skewed_company("r.u_kb", "$6::int")

INSERT_MENTIONS = f"""
INSERT INTO mentions (tenant_id, source, dedupe_key, title, link, summary, published_at, companies, created_at)
SELECT
    $1, 'synthetic', 'synthetic-' || x.i,
    CASE WHEN x.pair
         THEN replace(replace(({_MP})[1 + floor(x.u_tpl * {len(MENTION_PAIR)})::int], '{{a}}', x.a), '{{b}}', x.b)
         ELSE replace(({_MS})[1 + floor(x.u_tpl * {len(MENTION_SINGLE)})::int], '{{a}}', x.a)
    END,
    'https://news.example.com/' || to_char(x.published_at, 'YYYY/MM/DD') || '/story-' || x.i,
    'Reported by ' || ({text_array(MENTION_SOURCES)})[1 + floor(x.u_src * {len(MENTION_SOURCES)})::int] || '.',
    x.published_at,
    CASE WHEN x.pair THEN ARRAY[x.a, x.b] ELSE ARRAY[x.a] END,
    x.published_at
FROM (
    SELECT
        r.i, r.u_tpl, r.u_src,
        {company_name(_KA)} AS a,
        {company_name(_KB)} AS b,
        r.u_pair < {MENTION_PAIR_SHARE} AND {_KA} <> {_KB} AS pair,
        $5::timestamptz - floor(r.u_pub * $7::int * 86400)::bigint * interval '1 second' AS published_at
    FROM (
        SELECT
            i,
            {u("i", 40)} AS u_ka,
            {u("i", 41)} AS u_kb,
            {u("i", 42)} AS u_pair,
            {u("i", 43)} AS u_tpl,
            {u("i", 44)} AS u_src,
            {u("i", 45)} AS u_pub
        FROM generate_series($3::bigint, $4::bigint) AS g(i)
        OFFSET 0
    ) r
    OFFSET 0
) x
"""

ANALYZE_TABLES = ["contacts", "contact_keys", "conversations", "messages", "mentions"]
