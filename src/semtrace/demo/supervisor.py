"""Scenario 1, synchronous supervisor: booking a trip with a flight, a hotel and a car agent.

The supervisor holds the global view and calls each specialist in turn; each specialist asks
an LLM and calls tools (the airline, hotel and car-rental APIs). Because the chain is
synchronous, one slow dependency holds up everything after it: on some runs the hotel API
takes eight seconds, or gives up after ten, and the car is booked late or never. That is the
*single point of timeout* the traces make visible.

How it is instrumented (read it as an example for your own agents):

- ``@semtrace.agent`` on each agent's entry point, ``@semtrace.tool`` on each API call, and the
  LLM client traced with ``semtrace.llm`` (see :mod:`semtrace.demo.llm_sim`);
- a semantic logger per agent: ``log.warning`` when a dependency is slow and ``log.failure``
  with action, cause and impact when a step cannot be done;
- the trip id as ``gen_ai.conversation.id`` on the supervisor span, so all runs of one trip
  (and the ``traces`` view) group by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from opentelemetry import trace

import semtrace
from semtrace import semconv
from semtrace.demo._sim import Pace, rng_for
from semtrace.demo.llm_sim import SimulatedLLM

__all__ = [
    "SERVICE",
    "HotelAPI",
    "HotelMode",
    "HotelResponse",
    "Itinerary",
    "TravelDesk",
    "Trip",
    "make_trips",
]

SERVICE = "travel-booking"  # the service name this application runs under
HOTEL_TIMEOUT_S = 10.0
SLOW_THRESHOLD_MS = 2_000

log = semtrace.get_logger(agent="travel_supervisor")
flight_log = semtrace.get_logger(agent="flight_agent")
hotel_log = semtrace.get_logger(agent="hotel_agent")
car_log = semtrace.get_logger(agent="car_agent")

HotelMode = str  # "normal", "slow" (answers after ~8 s) or "timeout" (no answer within 10 s)

CITIES = ["Lisbon", "Kyoto", "Montreal", "Cape Town", "Oslo", "Singapore", "Lima", "Vienna"]
TRAVELLERS = ["A. Rivera", "K. Tanaka", "M. Okafor", "S. Lindqvist", "P. Dubois", "R. Mehta"]


@dataclass(frozen=True)
class Trip:
    """A booking request as the supervisor receives it."""

    trip_id: str
    traveller: str
    origin: str
    city: str
    nights: int
    # How the (simulated) hotel API behaves during this trip's booking: not part of the
    # request, so left out of its repr (and of the inputs semtrace records).
    hotel_mode: HotelMode = field(default="normal", repr=False)


@dataclass
class Itinerary:
    """What the supervisor hands back: the bookings made, and whether the trip is confirmed."""

    trip_id: str
    flight: str | None = None
    hotel: str | None = None
    car: str | None = None
    confirmed: bool = False


def make_trips(seed: int, count: int, *, first: int = 0, guarantee: bool = True) -> list[Trip]:
    """``count`` trips drawn from the seed; with ``guarantee`` exactly one is slow and one
    times out (so a short demo always shows both), otherwise 15% are slow and 5% time out."""
    trips: list[Trip] = []
    for i in range(first, first + count):
        rng = rng_for(seed, "trip", i)
        roll = rng.random()
        mode = "timeout" if roll < 0.05 else "slow" if roll < 0.20 else "normal"
        trips.append(
            Trip(
                trip_id=f"TRIP-{i + 1:04d}",
                traveller=rng.choice(TRAVELLERS),
                origin=rng.choice(["Berlin", "London", "New York", "Madrid"]),
                city=rng.choice(CITIES),
                nights=rng.randint(2, 7),
                hotel_mode=mode,
            )
        )
    if guarantee and count >= 3:
        slow, timeout = rng_for(seed, "trip-modes").sample(range(count), 2)
        modes = {slow: "slow", timeout: "timeout"}
        trips = [replace(trip, hotel_mode=modes.get(i, "normal")) for i, trip in enumerate(trips)]
    return trips


@dataclass(frozen=True)
class HotelResponse:
    """What the hotel API client returns: the offers and how long the API took."""

    hotels: list[str]
    elapsed_s: float


class HotelAPI:
    """A client for the (simulated) hotel availability API, which is sometimes slow."""

    def __init__(self, pace: Pace, seed: int, mode: HotelMode = "normal") -> None:
        self.pace = pace
        self.seed = seed
        self.mode = mode

    def search(self, city: str, nights: int, *, timeout_s: float) -> HotelResponse:
        rng = rng_for(self.seed, "hotels", city, nights, self.mode)
        if self.mode == "timeout":
            self.pace.sleep(timeout_s)
            raise TimeoutError(f"hotel API gave no answer within {timeout_s:.0f} s")
        latency = rng.uniform(7.0, 9.0) if self.mode == "slow" else rng.uniform(0.3, 0.8)
        self.pace.sleep(latency)
        name = rng.choice(["Aurora", "Central", "Harbour", "Garden"])
        return HotelResponse([f"Hotel {name} {city}"], latency)


class TravelDesk:
    """The travel-booking agents and the APIs they call."""

    def __init__(
        self, llm: SimulatedLLM, pace: Pace, seed: int, hotel_api: HotelAPI | None = None
    ) -> None:
        self.llm = llm
        self.pace = pace
        self.seed = seed
        self.hotel_api = hotel_api or HotelAPI(pace, seed)

    # -- the supervisor ----------------------------------------------------------------------
    @semtrace.agent("travel_supervisor", description="Plans a trip and delegates the bookings")
    def book_trip(self, trip: Trip) -> Itinerary:
        """Book a flight, then a hotel, then a car, for one trip."""
        trace.get_current_span().set_attribute(semconv.GEN_AI_CONVERSATION_ID, trip.trip_id)
        with log.bind(trip=trip.trip_id):
            self.llm.chat(
                "gpt-4o",
                f"Plan a {trip.nights}-night trip from {trip.origin} to {trip.city} for "
                f"{trip.traveller}: which bookings are needed, in which order?",
                system="You are a travel supervisor. Delegate to the flight, hotel and car agents.",
                reply="1. flight (arrival time decides the rest) 2. hotel near the centre "
                "3. car picked up at the airport after landing",
            )
            itinerary = Itinerary(trip.trip_id)
            itinerary.flight = self.flight_agent(trip)
            try:
                itinerary.hotel = self.hotel_agent(trip)
            except TimeoutError:
                log.failure(
                    action="confirm trip {trip}",
                    cause=f"the hotel API timed out after {HOTEL_TIMEOUT_S:.0f} s",
                    impact="the car was not booked and the traveller has no confirmed trip",
                    trip=trip.trip_id,
                    city=trip.city,
                )
                return itinerary
            itinerary.car = self.car_agent(trip)
            itinerary.confirmed = True
            self.llm.chat(
                "gpt-4o-mini",
                f"Write a short itinerary for {trip.traveller}: {itinerary.flight}, "
                f"{itinerary.hotel}, {itinerary.car}",
                reply=f"Your trip to {trip.city} is confirmed: flight, hotel and car are booked.",
            )
            log.info("trip confirmed", trip=trip.trip_id, city=trip.city, nights=trip.nights)
            return itinerary

    # -- the specialists ---------------------------------------------------------------------
    @semtrace.agent("flight_agent", description="Finds and books flights")
    def flight_agent(self, trip: Trip) -> str:
        """Book the outbound flight."""
        options = self.search_flights(trip.origin, trip.city)
        self.llm.chat(
            "gpt-4o-mini",
            f"Pick the best of {len(options)} flights {trip.origin}->{trip.city} for a "
            f"{trip.nights}-night stay: {options}",
            reply=f"Take {options[0]}: direct, lands before 18:00.",
        )
        ref = self.book_flight(options[0], trip.traveller)
        flight_log.info("flight booked", flight=options[0], booking=ref)
        return ref

    @semtrace.agent("hotel_agent", description="Finds and books hotels")
    def hotel_agent(self, trip: Trip) -> str:
        """Book a hotel for the stay."""
        hotels = self.search_hotels(trip.city, trip.nights)
        self.llm.chat(
            "gpt-4o-mini",
            f"Choose a hotel in {trip.city} for {trip.nights} nights under 180 EUR: {hotels}",
            reply=f"{hotels[0]} fits the budget and is near the centre.",
        )
        return self.book_hotel(hotels[0], trip.nights)

    @semtrace.agent("car_agent", description="Rents cars")
    def car_agent(self, trip: Trip) -> str:
        """Rent a car for pick-up at the airport."""
        cars = self.search_cars(trip.city)
        self.llm.chat(
            "claude-haiku-4-5",
            f"Pick a car in {trip.city} for {trip.nights} days, luggage for one: {cars}",
            reply=f"{cars[0]}: cheapest with enough boot space.",
        )
        ref = self.book_car(cars[0])
        car_log.info("car booked", car=cars[0], booking=ref)
        return ref

    # -- the APIs they call (simulated) ------------------------------------------------------
    @semtrace.tool("search_flights", description="Airline availability search")
    def search_flights(self, origin: str, city: str) -> list[str]:
        rng = rng_for(self.seed, "flights", origin, city)
        self.pace.sleep(rng.uniform(0.3, 0.9))
        return [f"{rng.choice(['LH', 'BA', 'TP', 'AF'])}{rng.randint(100, 999)}" for _ in range(3)]

    @semtrace.tool("book_flight", description="Airline booking API")
    def book_flight(self, flight: str, traveller: str) -> str:
        self.pace.sleep(rng_for(self.seed, "book", flight).uniform(0.3, 0.6))
        return f"PNR-{flight}"

    @semtrace.tool("search_hotels", description="Hotel availability API (10 s client timeout)")
    def search_hotels(self, city: str, nights: int) -> list[str]:
        """Search hotel availability."""
        response = self.hotel_api.search(city, nights, timeout_s=HOTEL_TIMEOUT_S)
        if response.elapsed_s * 1000 > SLOW_THRESHOLD_MS:
            hotel_log.warning(
                "hotel API slow",
                latency_ms=round(response.elapsed_s * 1000),
                threshold_ms=SLOW_THRESHOLD_MS,
                city=city,
            )
        return response.hotels

    @semtrace.tool("book_hotel", description="Hotel booking API")
    def book_hotel(self, hotel: str, nights: int) -> str:
        rng = rng_for(self.seed, "book", hotel, nights)
        self.pace.sleep(rng.uniform(0.2, 0.5))
        return f"HB-{rng.randint(0, 99_999):05d}"

    @semtrace.tool("search_cars", description="Car-rental availability API")
    def search_cars(self, city: str) -> list[str]:
        rng = rng_for(self.seed, "cars", city)
        self.pace.sleep(rng.uniform(0.2, 0.6))
        return [rng.choice(["VW Golf", "Toyota Yaris", "Skoda Octavia"]), "Fiat 500"]

    @semtrace.tool("book_car", description="Car-rental booking API")
    def book_car(self, car: str) -> str:
        self.pace.sleep(rng_for(self.seed, "book", car).uniform(0.2, 0.4))
        return f"CR-{car.split()[0].upper()}"
