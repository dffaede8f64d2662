"""Sequence tables of the benchmarks whose folders do not say everything (data, not code).

Facts about the public datasets, in a compact form of our own: the last frame number of every OTB-100 sequence
(frames start at 1 unless listed in ``OTB_SPECIAL``), the frame ranges of UAV123's sequences that are cut out of
longer videos, the NFS sequence lengths, and the LaSOT test split (Protocol II: 4 of the 20 videos per class,
as listed by pytracking; LaSOT's own ``testing_set.txt`` is used instead when it is in the dataset root).
"""

# "name:last_frame" for the 100 OTB sequences (the names of the OTB toolkit and pytracking).
OTB = """
    Basketball:725 Biker:142 Bird1:408 Bird2:99 BlurBody:334 BlurCar1:988 BlurCar2:585 BlurCar3:359 BlurCar4:397
    BlurFace:493 BlurOwl:631 Board:698 Bolt:350 Bolt2:293 Box:1161 Boy:602 Car1:1020 Car2:913 Car24:3059 Car4:659
    CarDark:393 CarScale:252 ClifBar:472 Coke:291 Couple:140 Coupon:327 Crossing:120 Crowds:347 Dancer:225
    Dancer2:150 David:770 David2:537 David3:252 Deer:71 Diving:215 Dog:127 Dog1:1350 Doll:3872 DragonBaby:113
    Dudek:1145 FaceOcc1:892 FaceOcc2:812 Fish:476 FleetFace:707 Football:362 Football1:74 Freeman1:326 Freeman3:460
    Freeman4:283 Girl:500 Girl2:1500 Gym:767 Human2:1128 Human3:1698 Human4_2:667 Human5:713 Human6:792 Human7:250
    Human8:128 Human9:305 Ironman:166 Jogging_1:307 Jogging_2:307 Jump:122 Jumping:313 KiteSurf:84 Lemming:1336
    Liquor:1741 Man:134 Matrix:100 Mhyang:1490 MotorRolling:164 MountainBike:228 Panda:1000 RedTeam:1918 Rubik:1997
    Shaking:365 Singer1:351 Singer2:366 Skater:160 Skater2:435 Skating1:400 Skating2_1:473 Skating2_2:473 Skiing:81
    Soccer:392 Subway:175 Surfer:376 Suv:945 Sylvester:1345 Tiger1:354 Tiger2:365 Toy:271 Trans:124 Trellis:569
    Twinnings:472 Vase:271 Walking:412 Walking2:500 Woman:597
""".split()

# Exceptions to the OTB defaults: frames in "<folder>/img/%04d.jpg" numbered from 1, annotation
# "<folder>/groundtruth_rect.txt". ``omit``: frames skipped at the start (with their annotation lines).
OTB_SPECIAL = {
    "BlurCar1": dict(start=247),
    "BlurCar3": dict(start=3),
    "BlurCar4": dict(start=18),
    "David": dict(start=300),
    "Board": dict(digits=5),
    "Tiger1": dict(omit=5),
    "KiteSurf": dict(ext="png"),
    "Human4_2": dict(folder="Human4", anno="groundtruth_rect.2.txt"),
    "Jogging_1": dict(folder="Jogging", anno="groundtruth_rect.1.txt"),
    "Jogging_2": dict(folder="Jogging", anno="groundtruth_rect.2.txt"),
    "Skating2_1": dict(folder="Skating2", anno="groundtruth_rect.1.txt"),
    "Skating2_2": dict(folder="Skating2", anno="groundtruth_rect.2.txt"),
}

# UAV123 (30 fps): "name:last_frame" (folder = name, first frame 1) or "name:folder:first:last" for the
# sequences cut out of one long video. Frames "data_seq/UAV123/<folder>/%06d.jpg", annotation
# "anno/UAV123/<name>.txt"; pytracking prefixes the names with "uav_".
UAV123 = """
    bike1:3085 bike2:553 bike3:433 bird1_1:bird1:1:253 bird1_2:bird1:775:1477 bird1_3:bird1:1573:2437 boat1:901
    boat2:799 boat3:901 boat4:553 boat5:505 boat6:805 boat7:535 boat8:685 boat9:1399 building1:469 building2:577
    building3:829 building4:787 building5:481 car1_1:car1:1:751 car1_2:car1:751:1627 car1_3:car1:1627:2629
    car10:1405 car11:337 car12:499 car13:415 car14:1327 car15:469 car16_1:car16:1:415 car16_2:car16:415:1993
    car17:1057 car18:1207 car1_s:1475 car2:1321 car2_s:320 car3:1717 car3_s:1300 car4:1345 car4_s:830 car5:745
    car6_1:car6:1:487 car6_2:car6:487:1807 car6_3:car6:1807:2953 car6_4:car6:2953:3925 car6_5:car6:3925:4861
    car7:1033 car8_1:car8:1:1357 car8_2:car8:1357:2575 car9:1879 group1_1:group1:1:1333 group1_2:group1:1333:2515
    group1_3:group1:2515:3925 group1_4:group1:3925:4873 group2_1:group2:1:907 group2_2:group2:907:1771
    group2_3:group2:1771:2683 group3_1:group3:1:1567 group3_2:group3:1567:2827 group3_3:group3:2827:4369
    group3_4:group3:4369:5527 person1:799 person10:1021 person11:721 person12_1:person12:1:601
    person12_2:person12:601:1621 person13:883 person14_1:person14:1:847 person14_2:person14:847:1813
    person14_3:person14:1813:2923 person15:1339 person16:1147 person17_1:person17:1:1501
    person17_2:person17:1501:2347 person18:1393 person19_1:person19:1:1243 person19_2:person19:1243:2791
    person19_3:person19:2791:4357 person1_s:1600 person2_1:person2:1:1189 person2_2:person2:1189:2623 person20:1783
    person21:487 person22:199 person23:397 person2_s:250 person3:643 person3_s:505 person4_1:person4:1:1501
    person4_2:person4:1501:2743 person5_1:person5:1:877 person5_2:person5:877:2101 person6:901
    person7_1:person7:1:1249 person7_2:person7:1249:2065 person8_1:person8:1:1075 person8_2:person8:1075:1525
    person9:661 truck1:463 truck2:385 truck3:535 truck4_1:truck4:1:577 truck4_2:truck4:577:1261 uav1_1:uav1:1:1555
    uav1_2:uav1:1555:2377 uav1_3:uav1:2473:3469 uav2:133 uav3:265 uav4:157 uav5:139 uav6:109 uav7:373 uav8:301
    wakeboard1:421 wakeboard10:469 wakeboard2:733 wakeboard3:823 wakeboard4:697 wakeboard5:1675 wakeboard6:1165
    wakeboard7:199 wakeboard8:1543 wakeboard9:355
""".split()

# NFS at 30 fps in pytracking's layout: "name:last_frame"; frames "sequences/<name>/%05d.jpg",
# annotation "anno/nfs_<name>.txt".
NFS = """
    Gymnastics:368 MachLoop_jet:99 Skiing_red:69 Skydiving:196 airboard_1:425 airplane_landing:81 airtable_3:482
    basketball_1:282 basketball_2:102 basketball_3:421 basketball_6:224 basketball_7:240 basketball_player:369
    basketball_player_2:437 beach_flipback_person:61 bee:45 biker_acrobat:128 biker_all_1:113 biker_head_2:132
    biker_head_3:254 biker_upper_body:194 biker_whole_body:572 billiard_2:604 billiard_3:698 billiard_6:771
    billiard_7:724 billiard_8:778 bird_2:476 book:288 bottle:2103 bowling_1:303 bowling_2:710 bowling_3:271
    bowling_6:260 bowling_ball:275 bunny:705 car:2020 car_camaro:36 car_drifting:173 car_jumping:22
    car_rc_rolling:62 car_rc_rotating:80 car_side:108 car_white:2063 cheetah:167 cup:1281 cup_2:182 dog:1030
    dog_1:168 dog_2:594 dog_3:200 dogs:198 dollar:1426 drone:70 ducks_lake:107 exit:359 first:435 flower:448
    footbal_skill:131 helicopter:310 horse_jumping:117 horse_running:139 iceskating_6:603 jellyfish_5:746
    kid_swing:169 motorcross:39 motorcross_kawasaki:65 parkour:58 person_scooter:413 pingpong_2:1277 pingpong_7:1290
    pingpong_8:296 purse:968 rubber:1328 running:677 running_100_m:313 running_100_m_2:337 running_2:363
    shuffleboard_1:42 shuffleboard_2:41 shuffleboard_4:62 shuffleboard_5:32 shuffleboard_6:52 shuffletable_2:372
    shuffletable_3:368 shuffletable_4:101 ski_long:274 soccer_ball:163 soccer_ball_2:1934 soccer_ball_3:1381
    soccer_player_2:475 soccer_player_3:319 stop_sign:302 suv:2584 tiger:1556 walking:555 walking_3:1427
    water_ski_2:47 yoyo:67 zebra_fish:671
""".split()

# LaSOT test split: "class:i,j,k,l" -> sequences "class-i", ... (pytracking's list: 69 classes, 276 videos).
LASOT_TEST = """
    airplane:1,9,13,15 basketball:1,6,7,11 bear:2,4,6,17 bicycle:2,7,9,18 bird:2,3,15,17 boat:3,4,12,17
    book:3,10,11,19 bottle:1,12,14,18 bus:2,5,17,19 car:2,6,9,17 cat:1,3,18,20 cattle:2,7,12,13 spider:14,16,18,20
    coin:3,6,7,18 crab:3,6,12,18 surfboard:12,4,5,8 cup:1,4,7,17 deer:4,8,10,14 dog:1,7,15,19 guitar:3,8,10,16
    person:1,5,10,12 pig:2,10,13,18 swing:10,14,17,20 drone:13,15,2,7 pool:12,15,3,7 rabbit:10,13,17,19
    racing:10,15,16,20 robot:1,19,5,8 sepia:13,16,6,8 sheep:3,5,7,9 skateboard:16,19,3,8 tank:14,16,6,9
    tiger:12,18,4,6 train:1,11,20,7 truck:16,3,6,7 turtle:16,5,8,9 umbrella:17,19,2,9 yoyo:15,17,19,7
    zebra:10,14,16,17 elephant:1,12,16,18 goldfish:3,7,8,10 hat:1,2,5,18 kite:4,6,10,15 motorcycle:1,3,9,18
    mouse:1,8,9,17 flag:3,9,5,2 frog:3,4,20,9 gametarget:1,2,7,13 hand:2,3,9,16 helmet:5,11,19,13
    licenseplate:6,12,13,15 electricfan:1,10,18,20 chameleon:3,6,11,20 crocodile:3,4,10,14 gecko:1,5,16,19
    fox:2,3,5,20 giraffe:2,10,13,15 gorilla:4,6,9,13 hippo:1,7,9,20 horse:1,4,12,15 kangaroo:2,5,11,14
    leopard:1,7,16,20 lion:1,5,12,20 lizard:1,3,6,13 microphone:2,6,14,16 monkey:3,4,9,17 shark:2,3,5,6
    squirrel:8,11,13,19 volleyball:1,13,18,19
""".split()
