# One image for every process of the system; docker-compose.yml picks the entry per service.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts
COPY . .
USER node
ENV NODE_ENV=production
# Overridden per service in docker-compose.yml.
CMD ["node", "--import", "tsx", "src/services/checkout-api/main.ts"]
