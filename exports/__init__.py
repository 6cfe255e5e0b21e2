"""Personal data exports (GDPR access and portability): a user asks for an archive of their data, a
background job builds it as a zip of JSON files and their own media, and they download it until it
expires. Above every other domain: it reads what each of them keeps about the user, through their
own services where the API already shows it, so the archive holds nothing the user could not see."""
