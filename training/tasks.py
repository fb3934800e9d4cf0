"""Training's tasks, one folder each (data, train, export); this list is the only training module that names
them all. A new task is a new folder training/<task>/ plus one line below."""
from training.forecasting.export import TRAINING_TASK as FORECASTING
from training.generation.export import TRAINING_TASK as GENERATION
from training.music.export import TRAINING_TASK as MUSIC
from training.sentiment.export import TRAINING_TASK as SENTIMENT
from training.speech.export import TRAINING_TASK as SPEECH
from training.task import TrainingTask
from training.translation.export import TRAINING_TASK as TRANSLATION
from training.vitals.export import TRAINING_TASK as VITALS

TRAINING_TASKS: dict[str, TrainingTask] = {task.name: task for task in (GENERATION, SENTIMENT, FORECASTING, VITALS, MUSIC, SPEECH,
                                                                               TRANSLATION)}
