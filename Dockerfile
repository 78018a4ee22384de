# One image for every process of the system; docker-compose.yml picks the entry per service.
#
# Build stage: every dependency (TypeScript, the workflow bundler) and `npm run build`, which
# compiles src/ into dist/ with the .sql migrations beside the code and the workflows bundled
# once into dist/workflow-bundle.js (tools/build/build.ts).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY tools/build ./tools/build
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies and dist/ only, run by plain `node` as the unprivileged
# `node` user of the base image. No TypeScript source, no tests, no development tooling.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
# The worker loads the prebuilt bundle instead of running webpack at every start.
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
USER node
# Overridden per service in docker-compose.yml.
CMD ["node", "dist/services/checkout-api/main.js"]
