/*
 * hvk's DSDT: the only AML a guest gets. hvk's platform is hardware-reduced ACPI (no PM1 blocks,
 * no SCI, no PIC or PIT), so the DSDT only has to tell the OS which value to write into the FADT's
 * sleep control register to power the machine off (S5). Compiled by iasl (Debian acpica-tools)
 * at build time; see acpi.cc for the tables around it.
 */
DefinitionBlock ("", "DSDT", 2, "HVK", "HVKDSDT", 1)
{
    /* SLP_TYPa, SLP_TYPb, reserved, reserved: hvk powers off on SLP_TYP 5 with SLP_EN. */
    Name (_S5, Package () { 5, 5, 0, 0 })
}
