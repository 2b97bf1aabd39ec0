# One image for every recall role; docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY actors ./actors
COPY channels ./channels
COPY schedules ./schedules
COPY web ./web
COPY cli ./cli
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT ["recall"]
