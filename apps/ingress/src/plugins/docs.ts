import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

/**
 * OpenAPI generated from the same zod schemas that validate requests, so the document cannot drift
 * from the behaviour. Registered before the routes (the swagger plugin collects them as they are
 * added); the UI lives at `/docs`, the JSON at `/docs/json`, with security headers on both.
 */
async function docs(app: FastifyInstance, { version }: { version: string }) {
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'contact-linker',
        description:
          'Links DMS contacts and Web1on1 contacts both ways. Errors are `{ error, message, details? }`; see the README for the code catalog.',
        version,
      },
      components: {
        securitySchemes: {
          dmsApiKey: { type: 'http', scheme: 'bearer', description: 'one of DMS_API_KEYS' },
          hubSignature: {
            type: 'apiKey',
            in: 'header',
            name: 'X-Hub-Signature',
            description: 'sha1=<hex HMAC-SHA1 of the raw body, keyed with WEB1ON1_WEBHOOK_SECRET>',
          },
          admin: { type: 'http', scheme: 'basic' },
        },
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(async (ui) => {
    // swagger-ui sets its own Content-Security-Policy with hashes of its inline scripts.
    await ui.register(helmet, { contentSecurityPolicy: false });
    await ui.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  });
}

export default fp(docs, { name: 'contact-linker-docs', fastify: '5.x' });
