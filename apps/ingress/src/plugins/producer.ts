import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Producer } from '../producer.ts';

declare module 'fastify' {
  interface FastifyInstance {
    producer: Producer;
  }
}

async function producerPlugin(app: FastifyInstance, { producer }: { producer: Producer }) {
  app.decorate('producer', producer);
}

export default fp(producerPlugin, { name: 'contact-linker-producer', fastify: '5.x' });
