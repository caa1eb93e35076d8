//! The words the generated catalog and users are made of. Fixed lists rather than random
//! strings so that the demo's tables read like a real service's data, and so that the same
//! seed always draws the same names.

pub(super) const WORDS: &[&str] = &[
    "Love", "Night", "Heart", "Fire", "Rain", "Dream", "Light", "Road", "Blue", "Gold", "River",
    "Shadow", "Dance", "Stone", "Summer", "Winter", "Wild", "City", "Ghost", "Echo", "Star",
    "Ocean", "Silver", "Paper", "Glass", "Sugar", "Thunder", "Broken", "Electric", "Midnight",
];
pub(super) const BAND_FIRST: &[&str] = &[
    "The Lost", "Velvet", "Neon", "Silver", "Broken", "Midnight", "Electric", "Paper", "Crystal",
    "Golden", "Little", "Big", "Black", "White", "Young",
];
pub(super) const BAND_SECOND: &[&str] = &[
    "Foxes",
    "Harbors",
    "Engines",
    "Saints",
    "Tigers",
    "Lanterns",
    "Rivers",
    "Echoes",
    "Machines",
    "Owls",
    "Kings",
    "Sisters",
    "Pilots",
    "Strangers",
];
pub(super) const ARTIST_PLACES: &[&str] = &[
    "Austin, TX",
    "Chicago, IL",
    "",
    "London, England",
    "Nashville, TN",
    "",
    "Seattle, WA",
    "Los Angeles, CA",
    "Berlin, Germany",
    "",
    "New York, NY",
    "Atlanta, GA",
];
pub(super) const FIRST_M: &[&str] = &[
    "James", "John", "Robert", "Michael", "David", "Kevin", "Jacob", "Liam", "Noah", "Ethan",
    "Lucas", "Mason", "Aiden", "Carlos",
];
pub(super) const FIRST_F: &[&str] = &[
    "Mary", "Linda", "Sarah", "Emily", "Chloe", "Olivia", "Ava", "Sophia", "Mia", "Lily", "Zoe",
    "Kate", "Tegan", "Jayden",
];
pub(super) const LAST: &[&str] = &[
    "Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Lopez", "Wilson", "Taylor", "Moore",
    "Lee", "Clark", "Lewis", "Young", "King",
];
pub(super) const LOCATIONS: &[&str] = &[
    "San Jose-Sunnyvale-Santa Clara, CA",
    "New York-Newark-Jersey City, NY-NJ-PA",
    "Los Angeles-Long Beach-Anaheim, CA",
    "Chicago-Naperville-Elgin, IL-IN-WI",
    "Atlanta-Sandy Springs-Roswell, GA",
    "Seattle-Tacoma-Bellevue, WA",
    "Houston-The Woodlands-Sugar Land, TX",
    "Phoenix-Mesa-Scottsdale, AZ",
    "Boston-Cambridge-Newton, MA-NH",
    "Denver-Aurora-Lakewood, CO",
    "Miami-Fort Lauderdale-West Palm Beach, FL",
    "Portland-Vancouver-Hillsboro, OR-WA",
    "Detroit-Warren-Dearborn, MI",
    "Nashville-Davidson--Murfreesboro--Franklin, TN",
    "Columbus, OH",
    "Salt Lake City, UT",
    "Kansas City, MO-KS",
    "Minneapolis-St. Paul-Bloomington, MN-WI",
    "Raleigh, NC",
    "Washington-Arlington-Alexandria, DC-VA-MD-WV",
    "Burlington, VT",
    "Anchorage, AK",
    "Urban Honolulu, HI",
    "Omaha-Council Bluffs, NE-IA",
];
pub(super) const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 6.1) Chrome/36.0",
    "Mozilla/5.0 (Macintosh) Safari/537.78",
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/31.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 7_1_2) Mobile Safari",
];
pub(super) const OTHER_PAGES: &[&str] = &["Settings", "About", "Help", "Home", "Error"];
pub(super) const BAD_TS: &[&str] = &["2025-13-45T99", "", "2018-11-31T25:61", "", "NaN", "1e"];
