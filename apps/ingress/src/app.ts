import type { IngressConfig } from '@contact-linker/config';
import type { Logger } from '@contact-linker/observability';
import Fastify from 'fastify';
import {
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import dmsAuth from './plugins/dms-auth.ts';
import errorHandler from './plugins/error-handler.ts';
import jsonBody from './plugins/json-body.ts';
import producerPlugin from './plugins/producer.ts';
import type { Producer } from './producer.ts';
import { healthRoutes } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { updateContactRoutes } from './routes/updatecontact.ts';
import { webhookRoutes } from './routes/webhook.ts';

export interface AppDeps {
  config: Pick<IngressConfig, 'dmsApiKeys' | 'webhookSecret' | 'syncUsers'>;
  producer: Producer;
  logger: Logger;
}

/** Builds the ingress without listening, so tests drive it through `inject` or a real socket. */
export async function buildApp({ config, producer, logger }: AppDeps) {
  const app = Fastify({
    loggerInstance: logger,
    // While closing, new requests get 503 and idle keep-alive sockets are dropped, so a rolling
    // deploy drains quickly.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    bodyLimit: 64 * 1024,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(errorHandler);
  await app.register(jsonBody);
  await app.register(dmsAuth, { keys: config.dmsApiKeys });
  await app.register(producerPlugin, { producer });

  await app.register(healthRoutes);
  await app.register(updateContactRoutes);
  await app.register(jobRoutes);
  await app.register(webhookRoutes, { secret: config.webhookSecret, syncUsers: config.syncUsers });
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
