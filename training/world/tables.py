"""Fixed tables of the world: the log's columns, actors, vehicles, plates, weekly rhythms."""

LOG_COLUMNS = (
    "crossing_id", "crossed_at", "direction", "port_code", "vehicle_class", "body_type",
    "plate_id", "plate_jurisdiction", "vehicle_make", "vehicle_model_year",
    "registration_age_days", "occupants", "carrier_id", "trailer_empty",
    "manifest_value_usd", "referral", "selection_probability", "inspected", "seizure",
    "firearms_seized", "rounds_seized", "currency_seized_usd")
TRUTH_COLUMNS = ("crossing_id", "carrier", "actor", "firearms", "rounds", "currency_usd")
#: probability that a secondary inspection finds what a vehicle really carries
DETECTION = 0.85

BODIES = ("sedan", "suv", "pickup", "van", "motorcycle", "tractor_trailer",
          "box_truck", "bus", "other")
CLASSES = ("personal", "truck", "bus")
ACTORS = ("commuter", "traveller", "truck", "bus", "straw", "ant", "front")
COMMUTER, TRAVELLER, TRUCK, BUS, STRAW, ANT, FRONT = range(7)
REFERRALS = ("none", "random", "officer")
# body mix per actor, in BODIES order
BODY_MIX = {
    COMMUTER: (.38, .27, .22, .08, .02, 0, 0, 0, .03),
    TRAVELLER: (.33, .29, .24, .09, .02, 0, 0, 0, .03),
    STRAW: (.12, .38, .40, .08, 0, 0, 0, 0, .02),
    ANT: (.38, .26, .22, .10, .01, 0, 0, 0, .03),
    TRUCK: (0, 0, 0, 0, 0, .8, .2, 0, 0),
    FRONT: (0, 0, 0, 0, 0, .8, .2, 0, 0),
    BUS: (0, 0, 0, 0, 0, 0, 0, 1, 0),
}
MAKES = {
    0: ("Toyota", "Nissan", "Chevrolet", "Ford", "Honda", "Volkswagen", "Hyundai", "Kia", "Mazda"),
    1: ("Chevrolet", "Ford", "Jeep", "Toyota", "Honda", "Nissan", "GMC", "Hyundai", "Kia"),
    2: ("Ford", "Chevrolet", "Ram", "Toyota", "GMC", "Nissan"),
    3: ("Chrysler", "Honda", "Toyota", "Ford", "Mercedes-Benz", "Dodge"),
    4: ("Honda", "Harley-Davidson", "Yamaha", "Kawasaki", "Italika"),
    5: ("Freightliner", "Kenworth", "International", "Volvo", "Peterbilt", "Mack"),
    6: ("Isuzu", "Hino", "Freightliner", "International", "Ford"),
    7: ("MCI", "Prevost", "Volvo", "Irizar", "Mercedes-Benz"),
    8: ("Ford", "Chevrolet", "Polaris", "Dodge"),
}
#: every make once, in the order the make codes use
MAKE_NAMES = tuple(sorted({m for v in MAKES.values() for m in v}))
US = ("US-TX", "US-NM", "US-AZ", "US-CA", "US-NV", "US-CO", "US-OK", "US-IL", "US-FL",
      "US-UT", "US-WA", "US-GA", "US-NC", "US-NY")
US_W = (.30, .06, .12, .18, .05, .05, .04, .04, .03, .03, .03, .03, .02, .02)
MX = ("MX-BCN", "MX-SON", "MX-CHH", "MX-COA", "MX-NLE", "MX-TAM", "MX-SIN", "MX-DUR",
      "MX-JAL", "MX-ZAC", "MX-SLP", "MX-MIC", "MX-CMX", "MX-GUA")
JURIS = ("", "UNK") + US + MX          # code 0 is "not recorded"
FIRST_MX = 2 + len(US)                 # jurisdiction codes from here on are Mexican
STATES = {"Texas": "US-TX", "New Mexico": "US-NM", "Arizona": "US-AZ", "California": "US-CA"}
# each port's time zone comes from the shipped port table's time_zone column
# (primary, secondary) Mexican state across the line from each port
MX_ACROSS = {"Texas": ("MX-TAM", "MX-NLE"), "New Mexico": ("MX-CHH", "MX-CHH"),
             "Arizona": ("MX-SON", "MX-SON"), "California": ("MX-BCN", "MX-BCN")}
MX_ACROSS_PORT = (dict.fromkeys(("2302", "2303", "2410"), ("MX-COA", "MX-COA"))
                  | dict.fromkeys(("2401", "2402", "2403", "2404"), ("MX-CHH", "MX-CHH")))
# relative volume by weekday, Monday first
COMMUTE_WEEK = (.8, .8, .8, .8, .8, .3, .25)    # probability a commuter crosses that day
TRAVEL_WEEK = (.85, .8, .8, .85, 1.1, 1.4, 1.3)
TRUCK_WEEK = (1.2, 1.2, 1.2, 1.2, 1.15, .6, .25)
PAD = 45                                 # days simulated before the window (long stays)
GENERATIONS = 16                         # plates a trafficker may burn through
