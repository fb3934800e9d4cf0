"""The zoo's tasks, one folder each (preprocessing, predictor, network, registration); this list is the
only place that names them all. A new task is a new folder here plus one line below."""
from zoo.task import Task
from zoo.tasks.forecasting import TASK as FORECASTING
from zoo.tasks.generation import TASK as GENERATION
from zoo.tasks.music import TASK as MUSIC
from zoo.tasks.sentiment import TASK as SENTIMENT
from zoo.tasks.speech import TASK as SPEECH
from zoo.tasks.translation import TASK as TRANSLATION
from zoo.tasks.vitals import TASK as VITALS

TASKS: dict[str, Task] = {task.name: task for task in (GENERATION, SENTIMENT, FORECASTING, VITALS, MUSIC, SPEECH,
                                                         TRANSLATION)}
