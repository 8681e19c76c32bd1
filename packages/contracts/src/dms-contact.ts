import { z } from 'zod';

/** DMS contact ids become part of a URL path, so only unreserved URL characters (plus `:` and `@`) pass. */
export const DmsContactId = z.union([
  z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9._~:@-]+$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ ~ : @ -')
    // URL parsers read `.`/`..` (and their %2E forms) as path steps, so such an id would make the
    // "View in DMS" link point at another page of the DMS.
    .refine((id) => !/^\.+$/.test(id), 'must not consist of dots only'),
  z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
]);
export type DmsContactId = z.infer<typeof DmsContactId>;

export const OrganizationId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be 1-64 characters of A-Z a-z 0-9 _ -');
export type OrganizationId = z.infer<typeof OrganizationId>;

/** A phone number as the DMS sends it; it is normalised to E.164 later, so only its shape is checked. */
export const PhoneInput = z
  .string()
  .trim()
  .min(3)
  .max(40)
  .regex(/^\+?[0-9 ().\-/]+$/, 'must contain only digits, spaces and + ( ) . - /')
  .refine((v) => v.replace(/\D/g, '').length >= 3, 'must contain at least 3 digits');

export const EmailInput = z.string().trim().max(254).pipe(z.email());

/**
 * Body of `POST /updatecontact`: one DMS contact create/update. Unknown fields are stripped.
 * At least one of `email`, `telephone` or `phone` is required; `telephone` wins over `phone`.
 */
export const DmsContactEvent = z
  .object({
    id: DmsContactId,
    organization: OrganizationId,
    email: EmailInput.optional(),
    telephone: PhoneInput.optional(),
    phone: PhoneInput.optional(),
  })
  .refine((c) => c.email !== undefined || c.telephone !== undefined || c.phone !== undefined, {
    message: 'email, telephone or phone is required',
    path: ['email'],
  });
export type DmsContactEvent = z.infer<typeof DmsContactEvent>;

export const MAX_BULK_CONTACTS = 1000;

/** Body of `POST /updatecontacts`. Items are validated one by one (see the ingress), so they are `unknown` here. */
export const DmsContactBulk = z.object({
  contacts: z.array(z.unknown()).min(1).max(MAX_BULK_CONTACTS),
});
export type DmsContactBulk = z.infer<typeof DmsContactBulk>;
