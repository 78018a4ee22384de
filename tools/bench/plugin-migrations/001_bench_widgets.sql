-- The plugin benchmark's one effect (tools/bench/plugin-server.ts): a row per new request.
CREATE TABLE bench_widgets (
  id     bigserial PRIMARY KEY,
  tenant text NOT NULL,
  key    text NOT NULL,
  name   text NOT NULL
);
