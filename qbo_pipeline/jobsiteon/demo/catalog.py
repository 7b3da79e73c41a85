"""Word lists for the demo books: people, businesses, places and a contractor's pricebook.

Fictional throughout: phone numbers use the 555 exchange, businesses are made up, and the
cities are real US cities (the contractor works around Austin, TX, with a few clients
elsewhere).
"""
from __future__ import annotations

FIRST_NAMES = (
    "James", "Maria", "Robert", "Jennifer", "Michael", "Linda", "David", "Patricia", "William",
    "Elizabeth", "Carlos", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Daniel", "Karen",
    "Matthew", "Lisa", "Anthony", "Nancy", "Mark", "Betty", "Steven", "Sandra", "Andrew",
    "Ashley", "Joshua", "Emily", "Kevin", "Donna", "Brian", "Michelle", "Luis", "Carol",
    "Jorge", "Amanda", "Ryan", "Melissa", "Jacob", "Deborah", "Gary", "Stephanie", "Eric",
    "Rebecca", "Jonathan", "Laura", "Justin", "Sharon", "Scott", "Cynthia", "Brandon",
    "Kathleen", "Benjamin", "Amy", "Samuel", "Angela", "Gregory", "Shirley", "Alexander",
    "Brenda", "Patrick", "Emma", "Frank", "Anna", "Raymond", "Pamela", "Jack", "Nicole",
    "Dennis", "Samantha", "Jerry", "Katherine", "Tyler", "Christine", "Aaron", "Debra",
    "Jose", "Rachel", "Adam", "Carolyn", "Nathan", "Janet", "Henry", "Maya", "Douglas",
    "Priya", "Zachary", "Olivia", "Peter", "Sofia", "Kyle", "Grace", "Ethan", "Hannah",
    "Wei", "Mei", "Hiroshi", "Aisha", "Omar", "Fatima", "Dmitri", "Ingrid", "Tomás", "Lucía",
)

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
    "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster",
    "Jimenez", "Chen", "Wang", "Okafor", "Schmidt", "Novak", "O'Brien", "Yamamoto", "Haddad",
)

PLACES = (
    "Oak Hollow", "Cedar Creek", "Ridgeview", "Lakeside", "Stonebridge", "Maple Grove",
    "Pine Valley", "Riverbend", "Sunset", "Willow Park", "Eagle Crest", "Briarwood", "Highland",
    "Meadowbrook", "Copper Canyon", "Silver Lake", "Fox Run", "Brookstone", "Hidden Pines",
    "Harbor Point", "Bluebonnet", "Live Oak", "Mesa Verde", "Prairie Wind", "Red Rock",
    "Timberline", "Canyon View", "Heritage", "Northgate", "Westlake", "Shady Grove",
    "Granite Falls", "Magnolia", "Cypress Point", "Barton Hills", "Onion Creek", "Pecan Valley",
    "Lone Star", "Hill Country", "Balcones", "Walnut Creek", "Spicewood", "Lost Pines",
)

CUSTOMER_COMPANY_PATTERNS = (
    "{last} Property Management", "{place} Property Group", "{place} Apartments",
    "{place} HOA", "{last} Realty", "{last} & {last2} Homes", "{place} Dental Group",
    "{place} Community Church", "{last} Family Dental", "{place} Self Storage",
    "{place} Veterinary Clinic", "{last}'s Bistro", "{place} Montessori School",
    "{place} Business Park", "{last} Builders", "{place} Custom Homes", "{place} Investments LLC",
    "{place} Senior Living", "{last} Law Office", "{place} Coffee Co.", "{place} Fitness",
    "{last} Rentals LLC", "{place} Townhomes", "{place} Medical Plaza",
)

SUBCONTRACTOR_PATTERNS = (
    "{last} Electric LLC", "{place} Plumbing & Drain", "{last} Roofing Co.", "{last} Concrete LLC",
    "{last} Drywall Inc.", "{last} Painting", "{place} HVAC Services", "{last} Flooring",
    "{place} Landscaping", "{last} Masonry", "{last} Glass & Mirror", "{place} Insulation",
)

SUPPLIER_PATTERNS = (
    "{place} Lumber Supply", "{place} Tile & Stone", "{place} Electrical Supply",
    "{place} Plumbing Supply", "{place} Building Materials", "{place} Paint & Sundries",
    "{place} Equipment Rental", "{place} Roofing Supply", "{place} Hardware",
    "{place} Fuel & Fleet", "{place} Waste Services", "{place} Door & Window",
)

CONTRACTOR_NAMES = (
    "Lone Star Build & Repair", "Hill Country Home Services", "Capitol City Contractors",
    "Bluebonnet Renovation Co.", "Live Oak Construction", "Barton Creek Builders",
)

STREETS = (
    "Oak", "Maple", "Cedar", "Pine", "Elm", "Willow", "Pecan", "Lamar", "Congress", "Guadalupe",
    "Riverside", "Burnet", "Manor", "Airport", "Cameron", "Parmer", "Slaughter", "Brodie",
    "Bee Cave", "Spicewood Springs", "Anderson Mill", "Wells Branch", "Red River", "Shoal Creek",
    "Mesa", "Jollyville", "William Cannon", "Stassney", "Pleasant Valley", "Springdale",
    "Hancock", "Koenig", "Rundberg", "Braker", "Howard", "Wilson", "Main", "Church", "Mill",
    "Lakeview", "Hillside", "Sunrise", "Meadow", "Forest", "Valley", "Ridge", "Park",
)
STREET_SUFFIXES = ("St", "Ave", "Dr", "Ln", "Rd", "Blvd", "Ct", "Way", "Trl", "Pkwy", "Cir")

# (city, state, zip, area code, weight): most of the work is around Austin.
CITIES = (
    ("Austin", "TX", "78704", "512", 30), ("Austin", "TX", "78745", "512", 14),
    ("Austin", "TX", "78757", "512", 10), ("Round Rock", "TX", "78664", "512", 9),
    ("Georgetown", "TX", "78626", "512", 6), ("Cedar Park", "TX", "78613", "512", 7),
    ("Pflugerville", "TX", "78660", "512", 6), ("Leander", "TX", "78641", "512", 5),
    ("San Marcos", "TX", "78666", "512", 4), ("Kyle", "TX", "78640", "512", 4),
    ("Buda", "TX", "78610", "512", 3), ("Lakeway", "TX", "78734", "512", 3),
    ("Dripping Springs", "TX", "78620", "512", 2), ("Bastrop", "TX", "78602", "512", 2),
    ("San Antonio", "TX", "78209", "210", 2), ("Dallas", "TX", "75201", "214", 1),
    ("Houston", "TX", "77007", "713", 1), ("Denver", "CO", "80205", "303", 1),
    ("Phoenix", "AZ", "85004", "602", 1), ("Nashville", "TN", "37203", "615", 1),
)

PERSONAL_EMAIL_DOMAINS = ("gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com",
                          "icloud.com", "hotmail.com", "att.net", "austin.rr.com")
BUSINESS_MAILBOXES = ("office", "billing", "ap", "accounts", "info", "admin", "manager")
VENDOR_MAILBOXES = ("orders", "ar", "billing", "office", "sales", "dispatch")
PAYMENT_METHODS = (("check", 40), ("credit_card", 30), ("ach", 25), ("cash", 5))

# Pricebook: (name, base price). Services are labor; the unit is in the name.
SERVICES = (
    ("Drywall install (per sq ft)", "2.35"), ("Electrician hourly", "115"),
    ("Plumber hourly", "125"), ("Carpenter hourly", "85"), ("HVAC technician hourly", "120"),
    ("Painter hourly", "65"), ("Drywall finisher hourly", "70"), ("Tile setter hourly", "80"),
    ("General labor hourly", "55"), ("Project manager hourly", "95"), ("Roofer hourly", "75"),
    ("Mason hourly", "85"), ("Welder hourly", "95"), ("Concrete finisher hourly", "75"),
    ("Landscaper hourly", "60"), ("Handyman hourly", "75"), ("Flooring installer hourly", "70"),
    ("Cabinet installer hourly", "80"), ("Apprentice electrician hourly", "70"),
    ("Apprentice plumber hourly", "70"), ("Demolition crew hourly", "60"),
    ("Equipment operator hourly", "95"), ("Site supervisor hourly", "90"),
    ("Insulation installer hourly", "60"), ("Glazier hourly", "85"),
    ("Electrician overtime hourly", "170"), ("Plumber overtime hourly", "185"),
    ("Carpenter overtime hourly", "125"), ("HVAC technician overtime hourly", "180"),
    ("General labor overtime hourly", "80"), ("Handyman overtime hourly", "110"),
    ("Drywall texture (per sq ft)", "0.85"), ("Drywall repair (per patch)", "145"),
    ("Interior paint (per sq ft)", "3.25"), ("Exterior paint (per sq ft)", "4.10"),
    ("Cabinet paint (per door)", "95"), ("Tile install (per sq ft)", "12.50"),
    ("Hardwood floor install (per sq ft)", "8.75"), ("LVP flooring install (per sq ft)", "3.40"),
    ("Carpet install (per sq yd)", "9.50"), ("Floor refinishing (per sq ft)", "4.25"),
    ("Baseboard install (per linear ft)", "3.80"), ("Crown molding install (per linear ft)", "9.25"),
    ("Fence install (per linear ft)", "32.00"), ("Deck build (per sq ft)", "38.00"),
    ("Deck staining (per sq ft)", "2.20"), ("Concrete slab pour (per sq ft)", "7.80"),
    ("Concrete driveway (per sq ft)", "9.40"), ("Sidewalk repair (per sq ft)", "14.00"),
    ("Asphalt shingle roofing (per square)", "425"), ("Metal roofing (per square)", "950"),
    ("Gutter install (per linear ft)", "11.50"), ("Gutter cleaning (per linear ft)", "1.20"),
    ("Blown-in insulation (per sq ft)", "1.65"), ("Spray foam insulation (per board ft)", "1.45"),
    ("Siding install (per sq ft)", "7.25"), ("Window install (per window)", "325"),
    ("Door install (per door)", "285"), ("Outlet install (each)", "165"),
    ("Switch replacement (each)", "95"), ("Recessed light install (each)", "185"),
    ("Ceiling fan install (each)", "225"), ("Panel upgrade 200A (flat)", "2850"),
    ("EV charger install (flat)", "1150"), ("Water heater install (flat)", "650"),
    ("Tankless water heater install (flat)", "1450"), ("Toilet install (each)", "245"),
    ("Faucet replacement (each)", "185"), ("Garbage disposal install (each)", "195"),
    ("Sewer line camera inspection (flat)", "325"), ("Drain cleaning (flat)", "225"),
    ("Leak detection (flat)", "295"), ("HVAC tune-up (flat)", "149"),
    ("AC install 3-ton (flat)", "6800"), ("Furnace install (flat)", "4200"),
    ("Duct cleaning (per vent)", "35"), ("Thermostat install (each)", "145"),
    ("Pressure washing (per sq ft)", "0.35"), ("Tree trimming (per tree)", "275"),
    ("Sod install (per sq ft)", "1.85"), ("Sprinkler head replacement (each)", "45"),
    ("Irrigation zone install (per zone)", "650"), ("Trash haul-off (per load)", "325"),
    ("Dumpster rental 20yd (per week)", "475"), ("Permit filing (flat)", "250"),
    ("Site cleanup (flat)", "350"), ("Service call / trip charge", "89"),
    ("Emergency call-out fee", "195"), ("After-hours call-out fee", "150"),
    ("Estimate / consultation", "0"), ("Home inspection (flat)", "425"),
    ("Mold remediation (per sq ft)", "18.50"), ("Water damage dry-out (per day)", "385"),
    ("Popcorn ceiling removal (per sq ft)", "2.10"), ("Wallpaper removal (per sq ft)", "1.75"),
    ("Grout sealing (per sq ft)", "1.10"), ("Shower re-caulk (each)", "165"),
    ("Appliance install (each)", "175"), ("Smoke detector install (each)", "85"),
    ("GFCI outlet install (each)", "185"), ("Dedicated circuit install (each)", "425"),
    ("Whole-house surge protector install (flat)", "395"), ("Attic fan install (each)", "425"),
    ("Bathroom exhaust fan install (each)", "325"), ("Countertop install (per sq ft)", "22.00"),
    ("Backsplash install (per sq ft)", "16.50"), ("Kitchen demo (flat)", "1850"),
    ("Bathroom demo (flat)", "1250"),
)

PARTS = (
    ("2x4 stud 8ft", "4.28"), ("2x4 lumber 10ft", "6.15"), ("2x4 lumber 12ft", "7.45"),
    ("2x4 lumber 16ft", "10.20"), ("2x6 lumber 8ft", "7.10"), ("2x6 lumber 10ft", "9.25"),
    ("2x6 lumber 12ft", "11.30"), ("2x6 lumber 16ft", "15.80"), ("2x8 lumber 8ft", "9.60"),
    ("2x8 lumber 10ft", "12.40"), ("2x8 lumber 12ft", "14.90"), ("2x8 lumber 16ft", "20.75"),
    ("2x10 lumber 8ft", "13.20"), ("2x10 lumber 10ft", "16.85"), ("2x10 lumber 12ft", "20.10"),
    ("2x10 lumber 16ft", "27.40"), ("2x12 lumber 8ft", "17.50"), ("2x12 lumber 12ft", "26.80"),
    ("2x12 lumber 16ft", "36.25"), ("4x4 post 8ft pressure-treated", "13.75"),
    ("1/2in plywood 4x8", "42.50"), ("3/4in plywood 4x8", "58.90"), ("7/16in OSB 4x8", "17.85"),
    ("5/8in plywood 4x8", "49.30"), ("1/2in drywall sheet 4x8", "15.40"),
    ("1/2in drywall sheet 4x12", "22.80"), ("5/8in fire-rated drywall 4x8", "19.75"),
    ("1/2in moisture-resistant drywall 4x8", "18.60"), ("Joint compound 4.5gal", "21.98"),
    ("Drywall tape 500ft", "8.47"), ("Drywall screws 1-1/4in (5lb box)", "29.97"),
    ("12/2 Romex (250ft)", "128.00"), ("14/2 Romex (250ft)", "92.00"),
    ("10/3 Romex (100ft)", "148.00"), ("12/3 Romex (250ft)", "189.00"),
    ("6/3 Romex (per ft)", "5.35"), ("20A single-pole breaker", "12.48"),
    ("15A single-pole breaker", "10.98"), ("30A double-pole breaker", "24.97"),
    ("50A double-pole breaker", "32.50"), ("15A duplex outlet", "3.25"),
    ("20A duplex outlet", "4.10"), ("GFCI outlet 20A", "24.98"), ("Single-pole switch", "3.48"),
    ("3-way switch", "6.97"), ("Dimmer switch", "26.50"), ("Old-work electrical box", "2.85"),
    ("New-work electrical box", "1.35"), ("6in LED recessed light", "18.97"),
    ("4in LED recessed light", "16.48"), ("Smoke detector hardwired", "32.97"),
    ("200A main panel", "389.00"), ("1/2in PEX pipe (100ft coil)", "42.00"),
    ("3/4in PEX pipe (100ft coil)", "68.00"), ("1/2in copper pipe (10ft)", "38.50"),
    ("3/4in copper pipe (10ft)", "62.75"), ("2in PVC pipe (10ft)", "14.20"),
    ("3in PVC pipe (10ft)", "24.60"), ("4in PVC pipe (10ft)", "31.90"),
    ("1/2in PEX crimp rings (bag of 100)", "19.97"), ("1/2in ball valve", "11.48"),
    ("3/4in ball valve", "15.98"), ("Toilet wax ring", "5.47"), ("Toilet fill valve", "12.97"),
    ("Kitchen faucet", "189.00"), ("Bathroom faucet", "98.00"),
    ("50gal gas water heater", "1049.00"), ("40gal electric water heater", "689.00"),
    ("Garbage disposal 3/4hp", "219.00"), ("P-trap kit 1-1/2in", "9.98"),
    ("Interior paint eggshell (1gal)", "42.98"), ("Interior paint eggshell (5gal)", "189.00"),
    ("Interior paint satin (1gal)", "44.98"), ("Exterior paint satin (5gal)", "234.00"),
    ("Primer (5gal)", "112.00"), ("Ceiling paint flat (5gal)", "139.00"),
    ("Cabinet enamel (1gal)", "72.50"), ("Deck stain (1gal)", "46.98"),
    ("Painter's tape 1.5in", "7.97"), ("Canvas drop cloth 9x12", "24.98"),
    ("Concrete mix 80lb", "6.48"), ("Fast-setting concrete 50lb", "8.95"),
    ("Rebar #4 20ft", "14.85"), ("Mortar mix 60lb", "9.25"), ("Thinset mortar 50lb", "22.48"),
    ("Sanded grout 25lb", "24.97"), ("Unsanded grout 10lb", "18.48"),
    ("Concrete paver 12x12", "3.78"), ("Welded wire mesh 5x150", "129.00"),
    ("Porcelain tile 12x24 (per sq ft)", "3.49"), ("Ceramic subway tile 3x6 (per sq ft)", "2.29"),
    ("LVP flooring (per sq ft)", "2.89"), ("Oak hardwood 3/4in (per sq ft)", "6.49"),
    ("Carpet pad (per sq yd)", "6.25"), ("Cement backer board 3x5", "13.98"),
    ("Flooring underlayment (100 sq ft roll)", "39.98"), ("Floor transition strip", "28.97"),
    ("Architectural shingles (bundle)", "42.50"), ("Roofing felt 15lb", "29.98"),
    ("Synthetic roof underlayment roll", "128.00"), ("Drip edge 10ft", "9.48"),
    ("Ridge vent 4ft", "14.97"), ("Roofing nails 1-1/4in (50lb)", "89.00"),
    ("Aluminum flashing roll 10in", "32.48"), ("Framing nails 16d (50lb)", "94.00"),
    ("Deck screws 3in (5lb)", "39.97"), ("Construction adhesive 10oz", "5.98"),
    ("Silicone caulk 10oz", "8.48"), ("Expanding foam sealant 12oz", "7.98"),
    ("Wood glue 16oz", "6.97"), ("Lag screws 1/2x6 (box of 25)", "31.50"),
    ("Joist hanger 2x10", "3.18"), ("Hurricane tie", "1.12"),
    ("Prehung interior door 30in", "168.00"), ("Prehung exterior door 36in", "449.00"),
    ("Vinyl window 36x48", "289.00"), ("Door lockset", "34.97"), ("Deadbolt", "39.98"),
    ("MDF baseboard 3-1/4in (16ft)", "15.36"), ("Crown molding 16ft", "38.40"),
    ("Door casing 7ft", "9.87"), ("Interior door hinges (3-pack)", "11.97"),
    ("HVAC filter 16x25x1", "8.98"), ("HVAC filter 20x25x4", "42.97"),
    ("Programmable thermostat", "59.00"), ("Smart thermostat", "229.00"),
    ("Flex duct 6in (25ft)", "48.00"), ("Register vent 4x10", "9.48"),
    ("Refrigerant R-410A (per lb)", "38.00"), ("Condensate pump", "74.00"),
    ("R-13 batt insulation (roll)", "52.00"), ("R-19 batt insulation (roll)", "64.00"),
    ("R-30 batt insulation (roll)", "71.00"), ("Blown-in insulation (bag)", "38.50"),
    ("Vapor barrier 6mil 10x100", "64.00"), ("Cedar fence picket 6ft", "3.97"),
    ("Gravel (per ton)", "48.00"), ("Topsoil (per cubic yard)", "42.00"),
    ("Hardwood mulch (per cubic yard)", "38.00"), ("St. Augustine sod (per pallet)", "289.00"),
    ("Sprinkler head", "4.98"), ("Landscape fabric 3x50", "18.97"),
    ("Aluminum gutter 10ft", "14.25"), ("Aluminum downspout 10ft", "11.48"),
)

# Kept at the front of every pricebook: the items people look for first.
STAPLE_ITEMS = ("Drywall install (per sq ft)", "Electrician hourly", "2x4 stud 8ft",
                "Plumber hourly", "Service call / trip charge")

# Variant suffixes once the catalog runs out (scale > 1).
ITEM_VARIANTS = ("(premium)", "(commercial)", "(contractor grade)", "(rush)", "(weekend)")
