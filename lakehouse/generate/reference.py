"""Built-in reference lists for the sample-data generator: places, names, jobs, categories."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    """A real US place a cardholder can live in (coordinates rounded to 4 decimals)."""

    name: str
    state: str
    zip: str
    lat: float
    long: float
    population: int


CITIES: tuple[City, ...] = (
    City("New York", "NY", "10001", 40.7128, -74.0060, 8336817),
    City("Los Angeles", "CA", "90012", 34.0522, -118.2437, 3979576),
    City("Chicago", "IL", "60601", 41.8781, -87.6298, 2693976),
    City("Houston", "TX", "77002", 29.7604, -95.3698, 2320268),
    City("Phoenix", "AZ", "85004", 33.4484, -112.0740, 1680992),
    City("Philadelphia", "PA", "19103", 39.9526, -75.1652, 1584064),
    City("San Antonio", "TX", "78205", 29.4241, -98.4936, 1547253),
    City("San Diego", "CA", "92101", 32.7157, -117.1611, 1423851),
    City("Dallas", "TX", "75201", 32.7767, -96.7970, 1343573),
    City("Austin", "TX", "78701", 30.2672, -97.7431, 978908),
    City("Jacksonville", "FL", "32202", 30.3322, -81.6557, 911507),
    City("Columbus", "OH", "43215", 39.9612, -82.9988, 898553),
    City("Charlotte", "NC", "28202", 35.2271, -80.8431, 885708),
    City("Indianapolis", "IN", "46204", 39.7684, -86.1581, 876384),
    City("Seattle", "WA", "98101", 47.6062, -122.3321, 753675),
    City("Denver", "CO", "80202", 39.7392, -104.9903, 727211),
    City("Boston", "MA", "02108", 42.3601, -71.0589, 692600),
    City("Nashville", "TN", "37203", 36.1627, -86.7816, 670820),
    City("Detroit", "MI", "48226", 42.3314, -83.0458, 670031),
    City("Portland", "OR", "97204", 45.5152, -122.6784, 654741),
    City("Las Vegas", "NV", "89101", 36.1699, -115.1398, 651319),
    City("Louisville", "KY", "40202", 38.2527, -85.7585, 617638),
    City("Milwaukee", "WI", "53202", 43.0389, -87.9065, 590157),
    City("Albuquerque", "NM", "87102", 35.0844, -106.6504, 560513),
    City("Atlanta", "GA", "30303", 33.7490, -84.3880, 498044),
    City("Omaha", "NE", "68102", 41.2565, -95.9345, 478192),
    City("Minneapolis", "MN", "55401", 44.9778, -93.2650, 429606),
    City("New Orleans", "LA", "70112", 29.9511, -90.0715, 390144),
    City("Boise", "ID", "83702", 43.6150, -116.2023, 235684),
    City("Salt Lake City", "UT", "84101", 40.7608, -111.8910, 200567),
    City("Fargo", "ND", "58102", 46.8772, -96.7898, 125990),
    City("Billings", "MT", "59101", 45.7833, -108.5007, 109577),
    City("Burlington", "VT", "05401", 44.4759, -73.2121, 42819),
    City("Key West", "FL", "33040", 24.5551, -81.7800, 24649),
    City("Bar Harbor", "ME", "04609", 44.3876, -68.2039, 5535),
    City("Moab", "UT", "84532", 38.5733, -109.5498, 5366),
)

FIRST_NAMES_F: tuple[str, ...] = (
    "Mary", "Jennifer", "Linda", "Patricia", "Elizabeth", "Susan", "Jessica", "Sarah", "Karen",
    "Nancy", "Lisa", "Betty", "Sandra", "Ashley", "Kimberly", "Donna", "Emily", "Michelle",
    "Carol", "Amanda", "Melissa", "Deborah", "Stephanie", "Rebecca", "Laura", "Helen",
)
FIRST_NAMES_M: tuple[str, ...] = (
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas",
    "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven",
    "Paul", "Andrew", "Joshua", "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald",
)
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores",
)
STREET_NAMES: tuple[str, ...] = (
    "Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset",
    "Ridge", "Meadow", "River", "Forest", "Highland", "Church", "Mill", "Spring", "Valley",
    "Jackson", "Lincoln", "Perry", "Madison", "Franklin",
)
STREET_SUFFIXES: tuple[str, ...] = (
    "Street", "Avenue", "Road", "Lane", "Drive", "Court", "Cove", "Way", "Place", "Terrace",
)
# Several jobs carry a comma, as in the public data, so that CSV quoting is exercised.
JOBS: tuple[str, ...] = (
    "Accountant, chartered", "Psychologist, counselling", "Engineer, civil (contracting)",
    "Teacher, primary school", "Nurse, adult", "Software engineer", "Pharmacist",
    "Electrician", "Police officer", "Architect", "Librarian, public", "Data scientist",
    "Chef", "Solicitor", "Dentist", "Firefighter", "Journalist, newspaper",
    "Retail manager", "Sales executive", "Mechanical engineer", "Paramedic",
    "Graphic designer", "Farm manager", "Lecturer, higher education", "Physiotherapist",
    "Surveyor, land/geomatics", "Civil Service administrator", "Barista",
)
# Surnames used to build merchant names in the public data's "fraud_<Name>" style.
MERCHANT_NAMES: tuple[str, ...] = (
    "Rippin", "Kub", "Mann", "Heller", "Gutmann", "Zieme", "Lind", "Buckridge", "Kirlin",
    "Sipes", "Kuhn", "Schmeler", "Hermann", "Bashirian", "Lesch", "Koepp", "Stracke",
    "Boyer", "Kilback", "Ziemann", "Welch", "Runolfsdottir", "Hickle", "Rau", "Bahringer",
    "Jast", "Cormier", "Grady", "Schultz", "Kemmer", "Pouros", "Medhurst", "Towne",
    "Abbott", "Bednar", "Dickens", "Erdman", "Fadel", "Goyette", "Hane", "Jerde", "Kovacek",
    "Larkin", "Mertz", "Nader", "Okuneva", "Prosacco", "Quigley", "Reichert", "Stehr",
)
MERCHANT_PATTERNS: tuple[str, ...] = (
    "{a}-{b}", "{a}, {b} and {c}", "{a} LLC", "{a} Inc", "{a} Ltd", "{a} PLC", "{a} Group",
    "{a} and Sons", "{a}-{b}",
)


@dataclass(frozen=True)
class Category:
    """A merchant category (from conf/reference/merchant_categories.csv) and its spend profile."""

    name: str
    weight: float
    median_amount: float
    sigma: float
    fraud_weight: float
    fraud_median: float
    fraud_sigma: float


# Fraud concentrates in online shopping, online misc and in-store grocery, at high amounts.
CATEGORIES: tuple[Category, ...] = (
    Category("entertainment", 0.07, 45.0, 0.8, 0.02, 450.0, 0.4),
    Category("food_dining", 0.09, 30.0, 0.7, 0.02, 120.0, 0.4),
    Category("gas_transport", 0.13, 55.0, 0.5, 0.05, 12.0, 0.3),
    Category("grocery_net", 0.05, 50.0, 0.6, 0.02, 12.0, 0.3),
    Category("grocery_pos", 0.12, 80.0, 0.6, 0.24, 310.0, 0.1),
    Category("health_fitness", 0.06, 40.0, 0.7, 0.01, 20.0, 0.3),
    Category("home", 0.08, 55.0, 0.8, 0.02, 250.0, 0.4),
    Category("kids_pets", 0.08, 40.0, 0.8, 0.02, 20.0, 0.3),
    Category("misc_net", 0.04, 35.0, 1.1, 0.16, 800.0, 0.25),
    Category("misc_pos", 0.06, 30.0, 1.0, 0.03, 200.0, 0.5),
    Category("personal_care", 0.06, 25.0, 0.8, 0.02, 25.0, 0.3),
    Category("shopping_net", 0.06, 60.0, 1.0, 0.28, 950.0, 0.2),
    Category("shopping_pos", 0.08, 55.0, 0.9, 0.09, 850.0, 0.3),
    Category("travel", 0.02, 150.0, 1.1, 0.02, 9.0, 0.3),
)
CATEGORY_NAMES: tuple[str, ...] = tuple(category.name for category in CATEGORIES)

# Relative likelihood of a purchase in each hour of the day (0..23).
HOUR_WEIGHTS: tuple[float, ...] = (
    0.3, 0.2, 0.2, 0.2, 0.3, 0.5, 0.8, 1.2, 1.5, 1.6, 1.7, 1.8,
    2.2, 2.2, 2.0, 1.9, 1.9, 2.0, 2.2, 2.3, 2.1, 1.8, 1.2, 0.6,
)
# Fraudulent purchases cluster late at night.
FRAUD_HOUR_WEIGHTS: tuple[float, ...] = (
    2.5, 2.5, 2.0, 1.5, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3,
    0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 3.0, 3.0,
)
