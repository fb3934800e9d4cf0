"""Each task's HTTP face, one module each: request and response schemas, the adapter from a request to rows
and from rows to a response, its endpoints, and its Session subclass if it has sessions. This list is the
only place that names them all; RNNZoo is built from it. A new task is a new module plus one line below."""
from service.tasks.forecasting import ForecastingEndpoints
from service.tasks.generation import GenerationEndpoints
from service.tasks.music import MusicEndpoints
from service.tasks.sentiment import SentimentEndpoints
from service.tasks.speech import SpeechEndpoints
from service.tasks.translation import TranslationEndpoints
from service.tasks.vitals import VitalsEndpoints

ENDPOINTS = (SentimentEndpoints, ForecastingEndpoints, VitalsEndpoints, GenerationEndpoints, MusicEndpoints,
             SpeechEndpoints, TranslationEndpoints)
SESSIONS = {endpoints.session.answer_field: endpoints.session for endpoints in ENDPOINTS if endpoints.session}
